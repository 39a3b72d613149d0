"""`lakehouse stack up | down | status` on a second, throw-away home with its own ports, so the
shared stack keeps running: a taken port fails clearly and starts nothing, `up` twice is a
no-op, a service that dies during start takes back what was started, `down` leaves nothing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from security.keys import MasterKey
from tests.faults.private_stack import free_ports

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def _process_groups() -> dict[int, int]:
    """pid -> process group of every live process."""
    groups = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if fields[0] != "Z":
                groups[int(entry.name)] = int(fields[2])
    return groups


def _home_processes(home: Path) -> list[int]:
    found = []
    for pid in _process_groups():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if str(home) in cmdline:
            found.append(pid)
    return found


class Lakehouse:
    """Runs the CLI against the throw-away home."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [LAKEHOUSE, *args], env=self.env, capture_output=True, text=True, timeout=300
        )

    def pids(self) -> list[int]:
        run_dir = self.home / "run"
        return [int(p.read_text()) for p in run_dir.glob("*.pid")] if run_dir.exists() else []


@pytest.fixture
def other(tmp_path: Path, settings) -> Iterator[Lakehouse]:
    home = tmp_path / "home"
    (home / "bin").mkdir(parents=True)
    # Share the installed runtime; everything else (data, credentials, logs) is new.
    (home / "jars").symlink_to(settings.home / "jars")
    (home / "kafka").symlink_to(settings.home / "kafka")
    (home / "bin" / "versitygw").symlink_to(settings.home / "bin" / "versitygw")
    shutil.copy(settings.home / "bin" / ".versitygw.version", home / "bin")
    kafka, controller, s3, pg = free_ports(4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    env.update(
        LAKEHOUSE_HOME=str(home),
        LAKEHOUSE_KAFKA__PORT=str(kafka),
        LAKEHOUSE_KAFKA__CONTROLLER_PORT=str(controller),
        LAKEHOUSE_S3__PORT=str(s3),
        LAKEHOUSE_POSTGRES__PORT=str(pg),
        LAKEHOUSE_MASTER_KEY=MasterKey.generate().encoded(),  # no key file left behind
    )
    cli = Lakehouse(home, env)
    setup = cli("setup")
    assert setup.returncode == 0, setup.stderr
    yield cli
    cli("stack", "down")
    assert _home_processes(home) == []


def test_taken_port_fails_naming_kafka_and_starts_nothing(other: Lakehouse) -> None:
    port = int(other.env["LAKEHOUSE_KAFKA__PORT"])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = other("stack", "up")
    assert result.returncode == 1
    assert f"kafka cannot start: port {port}" in result.stderr
    assert _home_processes(other.home) == []


def test_up_is_idempotent_and_down_leaves_no_process(other: Lakehouse) -> None:
    first = other("stack", "up")
    assert first.returncode == 0, first.stderr
    assert "started: kafka, s3, postgres" in first.stdout
    leaders = other.pids()
    assert len(leaders) == 3

    second = other("stack", "up")
    assert second.returncode == 0, second.stderr
    assert "stack already up" in second.stdout
    assert sorted(other.pids()) == sorted(leaders)

    status = other("stack", "status")
    assert [line.split()[1] for line in status.stdout.splitlines()[1:]] == ["running"] * 3

    down = other("stack", "down")
    assert down.returncode == 0, down.stderr
    assert "stopped: postgres, s3, kafka" in down.stdout
    groups = _process_groups()
    assert [pid for pid, group in groups.items() if group in leaders] == []
    assert _home_processes(other.home) == []


def test_service_dying_during_start_leaves_nothing_running(other: Lakehouse) -> None:
    fake = other.home / "bin" / "versitygw"
    fake.unlink()
    fake.write_text("#!/bin/sh\necho 'simulated crash: cannot open the storage root' >&2\nexit 3\n")
    fake.chmod(0o755)
    result = other("stack", "up")
    assert result.returncode == 1
    assert "s3 exited during start" in result.stderr
    assert "simulated crash: cannot open the storage root" in result.stderr
    assert _home_processes(other.home) == []
    assert other.pids() == []
