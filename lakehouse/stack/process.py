"""Background processes owned by the project: start detached with a pid file and a log file,
wait on readiness with a deadline, stop with a signal then SIGKILL, and report state."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lakehouse.environment import service_environment
from lakehouse.errors import PortInUseError, StackError
from lakehouse.install.commands import user_switch
from lakehouse.stack.private import PRIVATE_UMASK

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2


def wait_until(
    condition: Callable[[], bool], *, deadline_s: float, what: str, poll_s: float = POLL_SECONDS
) -> None:
    """Poll ``condition`` until it is true; raise StackError naming ``what`` at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        if condition():
            return
        if time.monotonic() >= end:
            raise StackError(f"timed out after {deadline_s:.0f}s waiting for {what}")
        time.sleep(poll_s)


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.strip().splitlines()[-lines:]) or "(log is empty)"


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (checked by binding it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def port_accepts(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """True when ``pid`` is a running (not zombie) process; reaps it if it is our child."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in {"Z", "X"}


def cmdline_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


@dataclass
class ManagedProcess:
    """One long-running program the project starts and stops.

    ``marker`` is a string its command line must contain for a pid file to count as ours (it
    guards against a recycled pid); it defaults to the home path that every command names.
    """

    name: str
    pid_file: Path
    log_file: Path
    marker: str
    stop_signal: int = signal.SIGTERM
    stop_timeout_s: float = 30.0

    def pid(self) -> int | None:
        """The pid of our running process, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if pid_alive(pid) and self.marker in cmdline_of(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, user: str | None = None
    ) -> int:
        """Run ``argv`` detached (own session), output appended to the log file; returns the
        pid. The process gets ``env`` and the few variables of ours a service needs
        (``lakehouse.environment``), no secret; ``user`` switches user (as root)."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_fd = os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(log_fd, "ab") as out:
            out.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {self.name}\n".encode())
            out.flush()
            try:
                proc = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=service_environment(env),
                    start_new_session=True,
                    umask=PRIVATE_UMASK,  # its data and logs readable by their owner only
                    **user_switch(user),
                )
            except OSError as exc:
                raise StackError(f"{self.name}: cannot run {argv[0]}: {exc}") from exc
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def wait_ready(self, pid: int, probe: Callable[[], bool], deadline_s: float) -> None:
        """Wait until ``probe()`` is true; if the process dies or the deadline passes, raise a
        StackError with the last lines of its log."""

        def ready() -> bool:
            if not pid_alive(pid):
                raise StackError(
                    f"{self.name} exited during start; last lines of {self.log_file}:\n"
                    f"{log_tail(self.log_file)}"
                )
            return probe()

        try:
            wait_until(ready, deadline_s=deadline_s, what=f"{self.name} to become ready")
        except StackError as exc:
            if "timed out" in str(exc):
                raise StackError(
                    f"{exc}; last lines of {self.log_file}:\n{log_tail(self.log_file)}"
                ) from exc
            raise

    def stop(self) -> bool:
        """Stop the process and everything in its session; True if something was running."""
        pid = self.pid()
        if pid is None:
            return False
        log.info("stopping %s (pid %d)", self.name, pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, self.stop_signal)
        try:
            wait_until(lambda: not pid_alive(pid), deadline_s=self.stop_timeout_s, what=self.name)
        except StackError:
            log.warning("%s did not stop within %.0fs; killing it", self.name, self.stop_timeout_s)
        # The process leads its own session and process group: sweep any child left behind.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(pid), deadline_s=10, what=f"{self.name} to die")
        self.pid_file.unlink(missing_ok=True)
        return True


def check_ports_free(service: str, host: str, ports: Sequence[int]) -> None:
    """Raise PortInUseError naming the service and port when one is taken."""
    for port in ports:
        if not port_is_free(host, port):
            raise PortInUseError(
                f"{service} cannot start: port {port} on {host} is already in use by another "
                f"process (see `ss -ltnp 'sport = :{port}'`). Stop that process or set another "
                f"port in the settings."
            )
