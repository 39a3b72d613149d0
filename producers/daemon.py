"""Running a poller: once (the CLI) or on a schedule (APScheduler), with one log line per run
and the last run's result in ``<home>/state/<job>-health.json`` for a status command.

A schedule is an interval (``90s``, ``30m``, ``1h``, ``1d``) or a five-field crontab in UTC
(``0 12 * * *``). Runs never overlap (``max_instances=1``), missed runs coalesce into one, a
failing run is logged and recorded without stopping the daemon, and SIGTERM/SIGINT stop it
after the current run has flushed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from lakehouse.errors import ConfigError
from lakehouse.settings import Settings
from producers.http import redact
from producers.sink import stop_on_signals

log = logging.getLogger(__name__)

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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

    def describe(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts().items())
        return f"{self.outcome}; {counts}; {self.duration_s:.1f}s"

    def summary(self) -> str:
        return f"{self.job} {self.describe()}"


Job = Callable[[threading.Event], PollResult]


def state_dir(settings: Settings) -> Path:
    """Where producers keep ledgers, watermarks and health: one folder per namespace."""
    base = settings.home / "state"
    return base / settings.namespace if settings.namespace else base


def health_path(settings: Settings, job: str) -> Path:
    return state_dir(settings) / f"{job}-health.json"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside ``path``, fsync, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_health(settings: Settings, job: str) -> dict[str, Any] | None:
    """The last recorded run of ``job`` (None if it never ran)."""
    try:
        return json.loads(health_path(settings, job).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def record_health(
    settings: Settings,
    job: str,
    started: datetime,
    result: PollResult | None,
    error: BaseException | None = None,
) -> dict[str, Any]:
    """Write the health file of ``job`` for a run that returned ``result`` or raised ``error``."""
    finished = datetime.now(timezone.utc)
    previous = read_health(settings, job) or {}
    outcome = f"error: {type(error).__name__}" if error is not None else result.outcome  # type: ignore[union-attr]
    data = {
        "job": job,
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "duration_s": round((finished - started).total_seconds(), 3),
        "outcome": outcome,
        "counts": result.counts() if result is not None else None,
        "error": redact(str(error))[:500] if error is not None else None,
        "last_success_at": _iso(finished) if outcome == "ok" else previous.get("last_success_at"),
    }
    write_json_atomic(health_path(settings, job), data)
    return data


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
        log.exception(
            "%s run failed after %.1fs: %s", name, time.monotonic() - began, redact(str(exc))
        )
        return None
    result.duration_s = time.monotonic() - began
    record_health(settings, name, started, result)
    level = logging.WARNING if result.failed else logging.INFO
    log.log(level, "%s run %s", name, result.describe())
    return result


def parse_schedule(text: str) -> BaseTrigger:
    """An IntervalTrigger for ``<number><s|m|h|d>``, else a CronTrigger for a crontab (UTC)."""
    match = _INTERVAL.match(text)
    if match:
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
        if seconds <= 0:
            raise ConfigError(f"schedule {text!r}: the interval must be positive")
        return IntervalTrigger(seconds=seconds, timezone=timezone.utc)
    try:
        return CronTrigger.from_crontab(text, timezone=timezone.utc)
    except ValueError as exc:
        raise ConfigError(
            f"schedule {text!r} is neither an interval like '1h' nor a crontab like "
            f"'0 12 * * *': {exc}"
        ) from exc


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
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # we log one line per run
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    extra: dict[str, Any] = {}
    if run_at_start:
        extra["next_run_time"] = datetime.now(timezone.utc) + timedelta(milliseconds=10)
    scheduler.add_job(
        run_once,
        trigger,
        args=(settings, name, job, stop),
        kwargs={"raise_errors": False},
        id=name,
        name=name,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        **extra,
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
