"""``lakehouse schedule``: one daemon for every periodic job (the pollers, maintenance, quality,
promotion, lifecycle) on the schedules of ``settings.schedule.jobs``.

Each run is a subprocess, ``python -m lakehouse.cli <command>`` in a process group of its own,
so a crash, a Spark job or a command this installation does not know cannot take the daemon
down, and jobs run isolated from each other. A job never overlaps itself: a run due while the
previous one still runs is skipped and logged. A run over its ``timeout_s`` is terminated, then
killed. Every run logs one line (job, outcome, duration, the last stderr line on failure) and
writes ``<home>/state/schedule-<job>-health.json``; its output is appended to
``<home>/logs/schedule/<job>.log``. SIGTERM/SIGINT stop the scheduling, give running jobs
``schedule.stop_timeout_s`` to finish, then terminate them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from apscheduler.triggers.base import BaseTrigger

from lakehouse.errors import ConfigError
from lakehouse.scheduling import (
    add_periodic_job,
    build_scheduler,
    log_run,
    next_fire_time,
    parse_schedule,
    read_health,
    record_run,
)
from lakehouse.settings import ScheduledJob, Settings

log = logging.getLogger(__name__)

LAKEHOUSE_CLI: tuple[str, ...] = (sys.executable, "-m", "lakehouse.cli")
LOG_ROTATE_BYTES = 10 * 1024 * 1024  # a job's log is moved to <job>.log.1 beyond this size


@dataclass(frozen=True)
class PlannedJob:
    """An enabled job, its schedule parsed."""

    name: str
    schedule: str
    command: tuple[str, ...]
    timeout_s: float
    trigger: BaseTrigger


@dataclass
class RunResult:
    """How one run ended: ``ok``, ``failed rc=N``, ``failed`` (could not run), ``timeout``,
    ``stopped`` (terminated by the daemon's shutdown) or ``skipped: ...``."""

    job: str
    outcome: str
    duration_s: float = 0.0
    returncode: int | None = None
    detail: str = ""


def health_name(job: str) -> str:
    """The health file's job name: apart from the pollers' own ``bcb``/``weather`` files."""
    return f"schedule-{job}"


def job_log_path(settings: Settings, job: str) -> Path:
    base = settings.home / "logs" / "schedule"
    return (base / settings.namespace if settings.namespace else base) / f"{job}.log"


def _selected(settings: Settings, only: Sequence[str]) -> dict[str, ScheduledJob]:
    """The configured jobs named in ``only`` (all without it); ConfigError for an unknown name."""
    jobs = settings.scheduled_jobs
    unknown = sorted(set(only) - jobs.keys())
    if unknown:
        raise ConfigError(f"no scheduled job {', '.join(unknown)}; jobs: {', '.join(jobs)}")
    return {name: job for name, job in jobs.items() if not only or name in only}


def plan_jobs(settings: Settings, only: Sequence[str] = ()) -> list[PlannedJob]:
    """The enabled jobs (among ``only`` when given), validated; ConfigError names the culprit."""
    jobs = _selected(settings, only)
    planned = []
    for name, job in jobs.items():
        if not job.enabled:
            continue
        variable = f"LAKEHOUSE_SCHEDULE__JOBS__{name.upper()}"
        if not job.schedule:
            raise ConfigError(f"scheduled job {name} has no schedule: set {variable}__SCHEDULE")
        if not job.command:
            raise ConfigError(f"scheduled job {name} has no command: set {variable}__COMMAND")
        try:
            trigger = parse_schedule(job.schedule)
        except ConfigError as exc:
            raise ConfigError(f"scheduled job {name}: {exc}") from exc
        planned.append(PlannedJob(name, job.schedule, job.command, job.timeout_s, trigger))
    if not planned:
        raise ConfigError("no enabled job to schedule")
    return planned


def command_problem(command: Sequence[str]) -> str | None:
    """Why this installation's ``lakehouse`` would reject ``command`` (None if it parses)."""
    from lakehouse.cli import build_parser

    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(list(command))
    except SystemExit as exc:
        if exc.code in (0, None):
            return None
        lines = [line for line in errors.getvalue().splitlines() if line.strip()]
        return lines[-1] if lines else f"exit status {exc.code}"
    return None


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)


def terminate(proc: subprocess.Popen[bytes], kill_after_s: float) -> None:
    """SIGTERM the run's process group, SIGKILL it after ``kill_after_s``; reap the run."""
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=kill_after_s)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _open_job_log(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size > LOG_ROTATE_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    return path.open("ab")


def _copy_stderr(source: IO[bytes], sink: IO[bytes], last_line: list[str]) -> None:
    """Append the run's stderr to its log, keeping its last non-empty line."""
    for line in source:
        text = line.decode(errors="replace").strip()
        if text:
            last_line[0] = text
        try:
            sink.write(line)
            sink.flush()
        except (ValueError, OSError):  # the log was closed: keep draining the pipe
            continue


class Scheduler:
    """One BackgroundScheduler running ``jobs`` as subprocesses ``[*launcher, *command]``."""

    def __init__(
        self,
        settings: Settings,
        jobs: Sequence[PlannedJob],
        launcher: Sequence[str] = LAKEHOUSE_CLI,
    ) -> None:
        self.settings = settings
        self.jobs = list(jobs)
        self.launcher = tuple(launcher)
        self._changed = threading.Condition()
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        self._stopped_by_us: set[str] = set()
        self._stopping = False
        self._scheduler = build_scheduler(log, max_workers=settings.schedule.max_parallel_runs)
        for job in self.jobs:
            add_periodic_job(self._scheduler, job.name, self.run, job.trigger, args=(job,))

    def start(self) -> None:
        self._scheduler.start()
        for job in self.jobs:
            planned = self._scheduler.get_job(job.name)
            log.info(
                "scheduled %s: %r, `lakehouse %s`, timeout %gs, next run %s",
                job.name,
                job.schedule,
                " ".join(job.command),
                job.timeout_s,
                planned.next_run_time.isoformat() if planned and planned.next_run_time else "-",
            )

    def serve(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set, then shut down (see ``shutdown``)."""
        self.start()
        try:
            while not stop.wait(1.0):  # short waits keep the main thread responsive to signals
                pass
        finally:
            self.shutdown()

    def running(self) -> list[str]:
        with self._changed:
            return sorted(self._running)

    def run(self, job: PlannedJob) -> RunResult:
        """One run of ``job``: its line logged and its health file written, whatever happens."""
        started = datetime.now(timezone.utc)
        began = time.monotonic()
        try:
            result = self._execute(job)
        except Exception as exc:  # the daemon outlives any run
            result = RunResult(job.name, "failed", detail=f"{type(exc).__name__}: {exc}")
        result.duration_s = time.monotonic() - began
        if result.outcome.startswith("skipped"):
            log_run(log, job.name, result.outcome, None, result.detail)
            return result
        log_run(log, job.name, result.outcome, result.duration_s, result.detail)
        try:
            record_run(
                self.settings,
                health_name(job.name),
                started,
                result.outcome,
                error=result.detail or None,
            )
        except OSError as exc:
            log.warning("%s: cannot write its health file: %s", job.name, exc)
        return result

    def _execute(self, job: PlannedJob) -> RunResult:
        argv = [*self.launcher, *job.command]
        with self._changed:
            if self._stopping:
                return RunResult(job.name, "skipped: the scheduler is stopping")
            output = _open_job_log(job_log_path(self.settings, job.name))
            stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
            output.write(f"\n--- {stamp} {job.name}: lakehouse {' '.join(job.command)}\n".encode())
            output.flush()
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
            except OSError as exc:
                output.close()
                return RunResult(job.name, "failed", detail=f"cannot start {argv[0]}: {exc}")
            self._running[job.name] = proc
        last_line = [""]
        assert proc.stderr is not None
        pump = threading.Thread(
            target=_copy_stderr, args=(proc.stderr, output, last_line), daemon=True
        )
        pump.start()
        timed_out = False
        try:
            proc.wait(timeout=job.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            terminate(proc, self.settings.schedule.kill_after_s)
        finally:
            pump.join(timeout=5.0)
            if not pump.is_alive():
                proc.stderr.close()
            with self._changed:
                self._running.pop(job.name, None)
                stopped = job.name in self._stopped_by_us
                self._stopped_by_us.discard(job.name)
                self._changed.notify_all()
            output.close()
        rc = proc.returncode
        if timed_out:
            detail = "; ".join(filter(None, (f"over {job.timeout_s:g}s", last_line[0])))
            return RunResult(job.name, "timeout", returncode=rc, detail=detail)
        if rc == 0:
            return RunResult(job.name, "ok", returncode=rc)
        if stopped:
            return RunResult(job.name, "stopped", returncode=rc, detail=last_line[0])
        return RunResult(
            job.name, f"failed rc={rc}", returncode=rc, detail=last_line[0] or "(no stderr)"
        )

    def shutdown(self) -> None:
        """Stop scheduling, wait up to ``stop_timeout_s`` for running jobs, terminate the rest."""
        limits = self.settings.schedule
        self._scheduler.pause()
        with self._changed:
            self._stopping = True
            if self._running:
                log.info(
                    "scheduler stopping: waiting up to %gs for %s",
                    limits.stop_timeout_s,
                    ", ".join(sorted(self._running)),
                )
            self._changed.wait_for(lambda: not self._running, timeout=limits.stop_timeout_s)
            left = dict(self._running)
            self._stopped_by_us.update(left)
        for name, proc in left.items():
            log.warning("scheduler stopping: terminating %s (pid %d)", name, proc.pid)
            _signal_group(proc, signal.SIGTERM)
        with self._changed:
            self._changed.wait_for(lambda: not self._running, timeout=limits.kill_after_s)
            left = dict(self._running)
        for proc in left.values():
            _signal_group(proc, signal.SIGKILL)
        self._scheduler.shutdown(wait=True)
        log.info("scheduler stopped")


def list_jobs(settings: Settings, only: Sequence[str] = (), now: datetime | None = None) -> str:
    """A table of the jobs: schedule, next run (UTC), last run, command and any problem."""
    now = now or datetime.now(timezone.utc)
    rows = [("job", "schedule", "next run (UTC)", "last run", "command")]
    for name, job in _selected(settings, only).items():
        if not job.enabled:
            next_run = "disabled"
        else:
            try:
                fire = next_fire_time(parse_schedule(job.schedule or ""), now)
                next_run = fire.isoformat(timespec="seconds") if fire else "never"
            except ConfigError:
                next_run = "invalid schedule"
        health = read_health(settings, health_name(name)) or {}
        last = f"{health['outcome']} at {health['finished_at']}" if health else "-"
        command = "lakehouse " + " ".join(job.command)
        problem = command_problem(job.command) if job.command else "no command"
        if problem:
            command += f"  (not runnable: {problem})"
        rows.append((name, job.schedule or "-", next_run, last, command))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(row[i].ljust(widths[i]) for i in range(4)) + "  " + row[4] for row in rows
    )


def run_schedule(settings: Settings, only: Sequence[str] = (), list_only: bool = False) -> int:
    """``lakehouse schedule``: print the jobs (``list_only``) or run the daemon until signalled."""
    if list_only:
        print(list_jobs(settings, only))
        return 0
    from producers.sink import stop_on_signals

    jobs = plan_jobs(settings, only)
    for job in jobs:
        problem = command_problem(job.command)
        if problem:
            log.warning(
                "%s: `lakehouse %s` is not a command of this installation (%s); its runs "
                "fail until it is",
                job.name,
                " ".join(job.command),
                problem,
            )
    Scheduler(settings, jobs).serve(stop_on_signals())
    return 0
