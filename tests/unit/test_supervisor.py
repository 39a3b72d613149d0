"""The supervisor of the streaming application: its backoff schedule, exit causes, and
restarts of a small child program (no Spark, no services)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lakehouse.settings import Settings
from streaming.supervisor import Backoff, Supervisor, driver_pid_file, exit_cause


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(initial_s=1, factor=2, max_s=30)
    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay(10_000) == 30


def test_backoff_count_starts_again_after_a_healthy_run() -> None:
    backoff = Backoff(healthy_after_s=30)
    failures = 0
    for ran_s in (2, 3, 1):  # a crash loop
        failures = backoff.failures_after(failures, ran_s)
    assert (failures, backoff.delay(failures)) == (3, 4)
    failures = backoff.failures_after(failures, 45)  # it ran long enough: counted afresh
    assert (failures, backoff.delay(failures)) == (1, 1)


def test_exit_causes() -> None:
    assert exit_cause(1) == "exit code 1"
    assert exit_cause(-signal.SIGKILL) == "killed by SIGKILL"
    assert exit_cause(-63) == "killed by signal 63"


def test_pid_file_per_namespace(tmp_path: Path) -> None:
    assert driver_pid_file(Settings(home=tmp_path)) == tmp_path / "run" / "stream.pid"
    named = Settings(home=tmp_path, namespace="ns1")
    assert driver_pid_file(named) == tmp_path / "run" / "stream-ns1.pid"


FAST = Backoff(initial_s=0.01, max_s=0.05, healthy_after_s=60)


def _child(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(body))
    return [sys.executable, str(script), str(tmp_path)]


def test_restarts_a_failing_or_killed_child_until_it_exits_cleanly(tmp_path: Path) -> None:
    argv = _child(
        tmp_path,
        """
        import os, signal, sys
        from pathlib import Path
        runs = Path(sys.argv[1]) / "runs"
        runs.write_text(runs.read_text() + "x" if runs.exists() else "x")
        n = len(runs.read_text())
        if n == 1:
            sys.exit(3)
        if n == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        """,
    )
    supervisor = Supervisor(argv, tmp_path / "run" / "stream.pid", FAST)
    assert supervisor.run() == 0
    assert (tmp_path / "runs").read_text() == "xxx"
    assert supervisor.restarts == 2
    assert not (tmp_path / "run" / "stream.pid").exists()


@pytest.mark.timeout(60)
def test_sigterm_is_forwarded_and_the_child_stops_cleanly(tmp_path: Path) -> None:
    """The supervisor in a process of its own; SIGTERM to it reaches the child, whose clean
    exit ends the supervisor with 0 and no restart."""
    child = _child(
        tmp_path,
        """
        import signal, sys, time
        from pathlib import Path
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        (Path(sys.argv[1]) / "ready").write_text("1")
        while not stop:
            time.sleep(0.05)
        (Path(sys.argv[1]) / "stopped").write_text("1")
        """,
    )
    pid_file = tmp_path / "run" / "stream.pid"
    program = (
        "import sys; from pathlib import Path; "
        "from streaming.supervisor import Backoff, Supervisor; "
        f"sys.exit(Supervisor({child!r}, Path({str(pid_file)!r}), Backoff(0.01)).run())"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-c", program], cwd=Path(__file__).parents[2], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "ready").exists():
            assert time.monotonic() < deadline and supervisor.poll() is None
            time.sleep(0.05)
        driver = int(pid_file.read_text())
        assert os.getpgid(driver) == driver  # a process group of its own
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
        assert (tmp_path / "stopped").exists()
        assert not pid_file.exists()
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
