"""Managed background processes: start, readiness, death during start, stop, ports."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.errors import PortInUseError, StackError
from lakehouse.stack.process import (
    ManagedProcess,
    check_ports_free,
    pid_alive,
    port_is_free,
    wait_until,
)


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _process(tmp_path: Path, name: str = "sleeper") -> ManagedProcess:
    return ManagedProcess(
        name=name,
        pid_file=tmp_path / "run" / f"{name}.pid",
        log_file=tmp_path / "logs" / f"{name}.log",
        marker=str(tmp_path),
    )


def test_start_then_stop_leaves_no_process(tmp_path: Path) -> None:
    process = _process(tmp_path)
    script = f"import time; print('up', {str(tmp_path)!r}, flush=True); time.sleep(60)"
    pid = process.start([sys.executable, "-c", script])
    process.wait_ready(pid, lambda: "up" in process.log_file.read_text(), deadline_s=20)
    assert process.pid() == pid
    assert process.stop() is True
    assert not pid_alive(pid)
    assert process.pid() is None and not process.pid_file.exists()
    assert process.stop() is False


def test_death_during_start_reports_the_log_tail(tmp_path: Path) -> None:
    process = _process(tmp_path, "crasher")
    script = f"import sys; print('fatal: disk on fire', {str(tmp_path)!r}); sys.exit(3)"
    pid = process.start([sys.executable, "-c", script])
    with pytest.raises(StackError, match=r"crasher exited during start(.|\n)*disk on fire"):
        process.wait_ready(pid, lambda: False, deadline_s=20)


def test_a_recycled_pid_is_not_taken_for_ours(tmp_path: Path) -> None:
    process = _process(tmp_path)
    process.pid_file.parent.mkdir(parents=True)
    process.pid_file.write_text("1")  # pid 1 runs, but its command line lacks our marker
    assert process.pid() is None
    assert not process.pid_file.exists()


def test_taken_port_is_named(listening_port: int) -> None:
    assert not port_is_free("127.0.0.1", listening_port)
    with pytest.raises(PortInUseError, match=rf"kafka cannot start: port {listening_port}"):
        check_ports_free("kafka", "127.0.0.1", [listening_port])


def test_wait_until_has_a_deadline() -> None:
    with pytest.raises(StackError, match="timed out after 0s waiting for nothing"):
        wait_until(lambda: False, deadline_s=0.3, what="nothing", poll_s=0.05)
