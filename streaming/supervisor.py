"""Supervised mode of the streaming application (``lakehouse stream --supervise``).

The supervisor runs the application as a child process in a process group of its own and
restarts it whenever it exits with an error or is killed, after an exponential backoff
(1 s, 2 s, 4 s ... at most 30 s; back to 1 s once a child has run for a healthy period, so
only a crash loop waits long). Each restart is logged with its cause (exit code or signal).
SIGTERM and SIGINT are forwarded to the child, whose clean stop ends the supervisor; a clean
exit of the child (``availableNow`` drained) ends it too. The child's pid is kept in a pid
file (``<home>/run/stream[-<namespace>].pid``) so operators and tests find the driver.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from lakehouse.settings import Settings

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # prctl(2): the signal a child gets when its parent dies


@dataclass(frozen=True)
class Backoff:
    """Restart delays: ``initial_s * factor**(n - 1)`` after the n-th failure in a row, at most
    ``max_s``; a child that ran ``healthy_after_s`` or longer starts the count again."""

    initial_s: float = 1.0
    factor: float = 2.0
    max_s: float = 30.0
    healthy_after_s: float = 30.0

    def delay(self, failures: int) -> float:
        """The wait before the next start after ``failures`` (>= 1) failures in a row."""
        if failures < 1:
            return 0.0
        return min(self.max_s, self.initial_s * self.factor ** min(failures - 1, 64))

    def failures_after(self, failures: int, ran_s: float) -> int:
        """Failures in a row once a child that ran ``ran_s`` seconds has failed."""
        return 1 if ran_s >= self.healthy_after_s else failures + 1


def exit_cause(returncode: int) -> str:
    """``exit code N`` or ``killed by SIGNAME`` from a ``Popen.returncode``."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"killed by {name}"


def driver_pid_file(settings: Settings) -> Path:
    """Where the supervisor keeps the pid of the running driver."""
    suffix = f"-{settings.namespace}" if settings.namespace else ""
    return settings.home / "run" / f"stream{suffix}.pid"


def read_driver_pid(settings: Settings) -> int | None:
    """The pid in the driver's pid file, or None."""
    try:
        return int(driver_pid_file(settings).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to send SIGTERM to the child when the supervisor dies (no orphaned driver)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    """Run ``argv`` and restart it on failure until it exits cleanly or a signal stops it."""

    def __init__(
        self,
        argv: Sequence[str],
        pid_file: Path,
        backoff: Backoff | None = None,
        stop_timeout_s: float = 120.0,
    ) -> None:
        self.argv = list(argv)
        self.pid_file = pid_file
        self.backoff = backoff or Backoff()
        self.stop_timeout_s = stop_timeout_s
        self.restarts = 0
        self._child: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._stop_signal = signal.SIGTERM
        self._stop_asked_at: float | None = None

    def run(self) -> int:
        """Supervise until the child exits cleanly (0) or a signal stops it (its exit code)."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        failures = 0
        try:
            while True:
                began = time.monotonic()
                returncode = self._run_child()
                ran_s = time.monotonic() - began
                if returncode == 0 or self._stop.is_set():
                    log.info(
                        "streaming application stopped (%s after %.0f s); supervisor done",
                        exit_cause(returncode),
                        ran_s,
                    )
                    # killed by the forwarded signal itself (before its handler was in place)
                    # is a stop as asked, not a failure
                    stopped = returncode in (0, -self._stop_signal)
                    return 0 if stopped else _shell_code(returncode)
                failures = self.backoff.failures_after(failures, ran_s)
                delay = self.backoff.delay(failures)
                self.restarts += 1
                log.warning(
                    "streaming application %s after %.0f s; restart %d in %.0f s "
                    "(%d failure(s) in a row)",
                    exit_cause(returncode),
                    ran_s,
                    self.restarts,
                    delay,
                    failures,
                )
                if self._stop.wait(delay):
                    log.info("stopped while waiting to restart; supervisor done")
                    return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run_child(self) -> int:
        child = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: driver + JVM, apart from ours
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self._child = child
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{child.pid}\n")
        log.info("streaming application started (pid %d, pid file %s)", child.pid, self.pid_file)
        if self._stop.is_set():  # a signal arrived between the fork and here
            self._forward(child)
        try:
            return self._wait(child)
        finally:
            self._child = None
            # The driver's JVM and workers are in its group: none may outlive it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            with contextlib.suppress(FileNotFoundError, ValueError):
                if int(self.pid_file.read_text()) == child.pid:
                    self.pid_file.unlink()

    def _wait(self, child: subprocess.Popen[bytes]) -> int:
        """The child's return code; past ``stop_timeout_s`` after a stop request, its group
        is killed."""
        reported = False
        while True:
            try:
                return child.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                asked = self._stop_asked_at
                if asked is None:
                    continue
                name = signal.Signals(self._stop_signal).name
                if not reported:
                    log.info("received %s: stopping the streaming application (pid %d)",
                             name, child.pid)  # fmt: skip
                    reported = True
                if time.monotonic() - asked > self.stop_timeout_s:
                    log.warning(
                        "streaming application (pid %d) still running %.0f s after %s: killing it",
                        child.pid,
                        self.stop_timeout_s,
                        name,
                    )
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(child.pid, signal.SIGKILL)
                    self._stop_asked_at = None

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Flags and kill(2) only (no logging: the main thread may be inside a write to the
        # same stream); the wait loop reports the signal.
        self._stop_signal = signal.Signals(signum)
        self._stop.set()
        child = self._child
        if child is not None:
            self._forward(child)

    def _forward(self, child: subprocess.Popen[bytes]) -> None:
        """Send the stop signal to the driver only (a signal to its JVM would skip the clean
        stop of the queries)."""
        if self._stop_asked_at is None:
            self._stop_asked_at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, self._stop_signal)


def _shell_code(returncode: int) -> int:
    return returncode if returncode > 0 else 128 - returncode


def supervise(settings: Settings, child_argv: Sequence[str], backoff: Backoff | None = None) -> int:
    """Run ``lakehouse stream`` (``child_argv``: the arguments after ``lakehouse``) under a
    supervisor; returns the supervisor's exit code."""
    argv = [sys.executable, "-m", "lakehouse.cli", *child_argv]
    pid_file = driver_pid_file(settings)
    log.info("supervising %s", " ".join(child_argv))
    return Supervisor(argv, pid_file, backoff).run()
