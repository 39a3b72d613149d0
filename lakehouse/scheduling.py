"""What every periodic job shares: schedules (an interval such as ``90s``, ``30m``, ``1h``,
``1d``, or a five-field crontab in UTC such as ``0 12 * * *``), one log line per run, the last
run of each job in ``<home>/state/<job>-health.json``, and an APScheduler scheduler whose jobs
never overlap (``max_instances=1``: a run due while the previous one still runs is skipped and
logged), coalesce missed runs into one and are never dropped as late."""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from lakehouse.errors import ConfigError
from lakehouse.settings import Settings

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}

SKIPPED = "skipped: previous run still running"


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


def next_fire_time(trigger: BaseTrigger, now: datetime | None = None) -> datetime | None:
    """When ``trigger`` fires next after ``now`` (default: the current time)."""
    return trigger.get_next_fire_time(None, now or datetime.now(timezone.utc))


# Health files


def state_dir(settings: Settings) -> Path:
    """Where jobs keep ledgers, watermarks and health: one folder per namespace."""
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


def record_run(
    settings: Settings,
    job: str,
    started: datetime,
    outcome: str,
    *,
    counts: dict[str, int] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """Write the health file of ``job`` for a run that began at ``started`` and ended now with
    ``outcome`` (``ok`` counts as a success); ``error`` must already be safe to store."""
    finished = datetime.now(timezone.utc)
    previous = read_health(settings, job) or {}
    data = {
        "job": job,
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "duration_s": round((finished - started).total_seconds(), 3),
        "outcome": outcome,
        "counts": counts,
        "error": error[:500] if error is not None else None,
        "last_success_at": _iso(finished) if outcome == "ok" else previous.get("last_success_at"),
    }
    write_json_atomic(health_path(settings, job), data)
    return data


# One line per run


def describe_run(outcome: str, duration_s: float | None, detail: str = "") -> str:
    """``<outcome>[; <detail>][; <duration>s]``: the text of a run's log line after its name."""
    parts = [outcome]
    if detail:
        parts.append(detail)
    if duration_s is not None:
        parts.append(f"{duration_s:.1f}s")
    return "; ".join(parts)


def log_run(
    logger: logging.Logger,
    job: str,
    outcome: str,
    duration_s: float | None,
    detail: str = "",
    *,
    level: int | None = None,
    exc_info: bool = False,
) -> None:
    """Log the one line of a run: ``<job> run <outcome>[; <detail>][; <duration>s]``, at INFO
    for ``ok`` and WARNING otherwise unless ``level`` says."""
    if level is None:
        level = logging.INFO if outcome == "ok" else logging.WARNING
    logger.log(
        level, "%s run %s", job, describe_run(outcome, duration_s, detail), exc_info=exc_info
    )


# The scheduler


def build_scheduler(logger: logging.Logger, max_workers: int = 10) -> BackgroundScheduler:
    """A UTC BackgroundScheduler running up to ``max_workers`` jobs at once; a run skipped
    because the previous one still runs is logged on ``logger`` as that job's line."""
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # the jobs log one line per run
    scheduler = BackgroundScheduler(
        timezone=timezone.utc, executors={"default": ThreadPoolExecutor(max_workers)}
    )

    def on_skipped(event: JobSubmissionEvent) -> None:
        log_run(logger, event.job_id, SKIPPED, None)

    scheduler.add_listener(on_skipped, EVENT_JOB_MAX_INSTANCES)
    return scheduler


def add_periodic_job(
    scheduler: BackgroundScheduler,
    name: str,
    func: Callable[..., Any],
    trigger: BaseTrigger,
    *,
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
    first_run: datetime | None = None,
) -> Job:
    """Schedule ``func(*args, **kwargs)`` as job ``name`` on ``trigger``: one run at a time,
    missed runs coalesced, late runs still run; ``first_run`` brings the first run forward."""
    extra: dict[str, Any] = {"next_run_time": first_run} if first_run is not None else {}
    return scheduler.add_job(
        func,
        trigger,
        args=list(args),
        kwargs=kwargs or {},
        id=name,
        name=name,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        **extra,
    )
