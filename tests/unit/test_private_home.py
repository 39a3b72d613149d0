"""The home is private to its owner: services write their data and logs 0600 in 0700
folders, and a home written before that is brought to the same state when the stack starts."""

from __future__ import annotations

import stat
from pathlib import Path

from lakehouse.stack.private import make_private
from lakehouse.stack.process import ManagedProcess


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _tree(home: Path) -> dict[str, Path]:
    paths = {
        "segment": home / "services" / "kafka" / "data" / "events-0" / "0.log",
        "object": home / "services" / "s3" / "lakehouse" / "bronze" / "part-0.parquet",
        "log": home / "logs" / "kafka.log",
        "pg_file": home / "services" / "postgres" / "data" / "PG_VERSION",
        "software": home / "venv" / "bin" / "python",
    }
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        path.chmod(0o644)
    for folder in {p.parent for p in paths.values()} | {home, home / "services"}:
        folder.chmod(0o755)
    return paths


def test_a_home_is_made_private_but_for_a_service_of_another_user(tmp_path: Path) -> None:
    home = tmp_path / "home"
    paths = _tree(home)
    postgres = home / "services" / "postgres"
    assert make_private(home, (postgres,)) > 0
    for name in ("segment", "object", "log"):
        assert _mode(paths[name]) == 0o600, name
        assert _mode(paths[name].parent) == 0o700, name
    assert _mode(home) == 0o711 and _mode(home / "services") == 0o711  # traverse only
    assert _mode(paths["pg_file"]) == 0o644  # PostgreSQL's own (it keeps its data 0700)
    assert _mode(paths["software"]) == 0o644
    assert make_private(home, (postgres,)) == 0  # nothing left to change


def test_a_home_without_another_user_is_closed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _tree(home)
    make_private(home)
    assert _mode(home) == 0o700 and _mode(home / "services") == 0o700


def test_a_service_writes_its_files_and_log_private(tmp_path: Path) -> None:
    process = ManagedProcess(
        name="writer",
        pid_file=tmp_path / "run" / "writer.pid",
        log_file=tmp_path / "logs" / "writer.log",
        marker=str(tmp_path),
    )
    data = tmp_path / "data"
    script = f"mkdir {data} && echo segment > {data}/0.log && sleep 30"
    pid = process.start(["sh", "-c", script, str(tmp_path)])
    try:
        process.wait_ready(pid, lambda: (data / "0.log").is_file(), 30)
    finally:
        process.stop()
    assert _mode(data) == 0o700 and _mode(data / "0.log") == 0o600
    assert _mode(tmp_path / "logs" / "writer.log") == 0o600
