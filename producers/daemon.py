"""Running a poller: once (the CLI) or on a schedule (APScheduler), with one log line per run
and the last run's result in ``<home>/state/<job>-health.json`` for a status command.

The schedule, the health file and the scheduler come from ``lakehouse.scheduling`` (re-exported
here for the pollers): runs never overlap, missed runs coalesce into one, a failing run is
logged and recorded without stopping the daemon, and SIGTERM/SIGINT stop it after the current
run has flushed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from lakehouse.scheduling import (
    add_periodic_job,
    build_scheduler,
    describe_run,
    health_path,
    log_run,
    parse_schedule,
    read_health,
    record_run,
    state_dir,
    write_json_atomic,
)
from lakehouse.settings import Settings
from producers.http import redact
from producers.sink import stop_on_signals

__all__ = [
    "Job",
    "PollResult",
    "health_path",
    "parse_schedule",
    "read_health",
    "record_health",
    "run_daemon",
    "run_once",
    "state_dir",
    "write_json_atomic",
]

log = logging.getLogger(__name__)


@dataclass
class PollResult:
    """What one run did. ``requested``: windows (BCB) or cities (weather) asked for;
    ``acked``/``dead_lettered``: records Kafka acknowledged on the topic / the DLQ;
    ``skipped``: requests answered with no data; ``failed``: requests that failed for good."""

    job: str
    requested: int = 0
    acked: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    failed: int = 0
    stopped: bool = False
    duration_s: float = 0.0

    @property
    def outcome(self) -> str:
        if self.failed:
            return "partial"
        return "stopped" if self.stopped else "ok"

    def counts(self) -> dict[str, int]:
        data = asdict(self)
        return {k: data[k] for k in ("requested", "acked", "dead_lettered", "skipped", "failed")}

    def counts_text(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.counts().items())

    def describe(self) -> str:
        return describe_run(self.outcome, self.duration_s, self.counts_text())

    def summary(self) -> str:
        return f"{self.job} {self.describe()}"


Job = Callable[[threading.Event], PollResult]


def record_health(
    settings: Settings,
    job: str,
    started: datetime,
    result: PollResult | None,
    error: BaseException | None = None,
) -> dict[str, Any]:
    """Write the health file of ``job`` for a run that returned ``result`` or raised ``error``."""
    if error is not None:
        outcome, message = f"error: {type(error).__name__}", redact(str(error))
    else:
        assert result is not None
        outcome, message = result.outcome, None
    counts = result.counts() if result is not None else None
    return record_run(settings, job, started, outcome, counts=counts, error=message)


def run_once(
    settings: Settings, name: str, job: Job, stop: threading.Event, *, raise_errors: bool = True
) -> PollResult | None:
    """Run ``job`` once: one log line with its counts, the health file written. With
    ``raise_errors=False`` (the daemon) an exception is logged and None returned."""
    started = datetime.now(timezone.utc)
    began = time.monotonic()
    try:
        result = job(stop)
    except Exception as exc:
        record_health(settings, name, started, None, exc)
        if raise_errors:
            raise
        log_run(
            log,
            name,
            "failed",
            time.monotonic() - began,
            f"{type(exc).__name__}: {redact(str(exc))}",
            level=logging.ERROR,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        return None
    result.duration_s = time.monotonic() - began
    record_health(settings, name, started, result)
    level = logging.WARNING if result.failed else logging.INFO
    log_run(log, name, result.outcome, result.duration_s, result.counts_text(), level=level)
    return result


def run_daemon(
    job: Job,
    schedule: str,
    *,
    settings: Settings,
    name: str,
    stop: threading.Event | None = None,
    run_at_start: bool = True,
) -> None:
    """Run ``job`` on ``schedule`` until ``stop`` is set (by default: SIGTERM or SIGINT).
    With ``run_at_start`` the first run starts at once instead of at the first trigger."""
    stop = stop if stop is not None else stop_on_signals()
    trigger = parse_schedule(schedule)
    scheduler = build_scheduler(log, max_workers=1)
    first_run = datetime.now(timezone.utc) + timedelta(milliseconds=10) if run_at_start else None
    add_periodic_job(
        scheduler,
        name,
        run_once,
        trigger,
        args=(settings, name, job, stop),
        kwargs={"raise_errors": False},
        first_run=first_run,
    )
    scheduler.start()
    first = scheduler.get_job(name)
    log.info(
        "%s daemon started: schedule %r, next run %s",
        name,
        schedule,
        first.next_run_time if first else "-",
    )
    try:
        while not stop.wait(1.0):  # short waits keep the main thread responsive to signals
            pass
    finally:
        log.info("%s daemon stopping: waiting for the current run to flush", name)
        scheduler.shutdown(wait=True)
        log.info("%s daemon stopped", name)
