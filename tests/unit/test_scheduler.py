"""``lakehouse schedule``: jobs as subprocesses on schedules, one line per run, no overlap,
timeouts, shutdown, settings and ``--list`` (tiny Python commands: no services, no Spark)."""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from batch.scheduler import (
    LAKEHOUSE_CLI,
    PlannedJob,
    Scheduler,
    command_problem,
    health_name,
    job_log_path,
    list_jobs,
    plan_jobs,
)
from lakehouse.cli import main
from lakehouse.errors import ConfigError
from lakehouse.scheduling import parse_schedule, read_health
from lakehouse.settings import DEFAULT_SCHEDULED_JOBS, Settings
from lakehouse.stack.process import wait_until

PYTHON = (sys.executable, "-c")  # a job's command is then one Python script
LOGGER = "batch.scheduler"


def settings_with(tmp_path: Path, jobs: dict[str, dict[str, Any]], **limits: Any) -> Settings:
    return Settings(home=tmp_path, schedule={"jobs": jobs, **limits})


def job(name: str, script: str, schedule: str = "1h", timeout_s: float = 30.0) -> PlannedJob:
    return PlannedJob(name, schedule, (script,), timeout_s, parse_schedule(schedule))


def lines(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    prefix = f"{name} run "
    return [
        r.getMessage()
        for r in list(caplog.records)
        if r.name == LOGGER and r.getMessage().startswith(prefix)
    ]


def serve_in_thread(daemon: Scheduler) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=daemon.serve, args=(stop,))
    thread.start()
    return stop, thread


def test_one_line_per_run_with_outcome_duration_and_last_stderr_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    settings = Settings(home=tmp_path)
    fails = job(
        "fails",
        "import sys; print('out'); print('first', file=sys.stderr); "
        "print('boom: no table', file=sys.stderr); sys.exit(3)",
    )
    works = job("works", "print('fine')")
    daemon = Scheduler(settings, [fails, works], launcher=PYTHON)

    assert daemon.run(fails).outcome == "failed rc=3"
    assert daemon.run(works).outcome == "ok"

    assert len(lines(caplog, "fails")) == 1 and len(lines(caplog, "works")) == 1
    assert re.fullmatch(
        r"fails run failed rc=3; boom: no table; \d+\.\ds", lines(caplog, "fails")[0]
    )
    assert re.fullmatch(r"works run ok; \d+\.\ds", lines(caplog, "works")[0])
    health = read_health(settings, health_name("fails"))
    assert health is not None and health["outcome"] == "failed rc=3"
    assert health["error"] == "boom: no table" and health["last_success_at"] is None
    output = job_log_path(settings, "fails").read_text()
    assert "out" in output and "boom: no table" in output


def test_a_failing_job_does_not_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    settings = Settings(home=tmp_path)
    jobs = [
        job("fails", "import sys; sys.exit('crashed')", schedule="0.3s"),
        job("works", "pass", schedule="0.3s"),
    ]
    daemon = Scheduler(settings, jobs, launcher=PYTHON)
    stop, thread = serve_in_thread(daemon)
    try:
        wait_until(
            lambda: len(lines(caplog, "fails")) >= 3 and len(lines(caplog, "works")) >= 3,
            deadline_s=10,
            what="three runs of each job",
            poll_s=0.05,
        )
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert all(line.startswith("fails run failed rc=1; crashed") for line in lines(caplog, "fails"))
    assert all(line.startswith("works run ok") for line in lines(caplog, "works"))


def test_overlapping_runs_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lakehouse.scheduling")
    caplog.set_level(logging.INFO, logger=LOGGER)
    settings = Settings(home=tmp_path)
    trace = tmp_path / "trace"
    script = (
        "import time, pathlib\n"
        f"trace = pathlib.Path({str(trace)!r})\n"
        "with trace.open('a') as f: f.write('start\\n')\n"
        "time.sleep(0.7)\n"
        "with trace.open('a') as f: f.write('end\\n')\n"
    )
    daemon = Scheduler(settings, [job("slow", script, schedule="0.2s")], launcher=PYTHON)
    stop, thread = serve_in_thread(daemon)
    try:
        wait_until(
            lambda: sum(line.startswith("slow run ok") for line in lines(caplog, "slow")) >= 2,
            deadline_s=10,
            what="two completed runs",
            poll_s=0.05,
        )
    finally:
        stop.set()
        thread.join(timeout=15)
    events = trace.read_text().split()
    assert events[: 2 * (len(events) // 2)] == ["start", "end"] * (len(events) // 2)
    assert "slow run skipped: previous run still running" in lines(caplog, "slow")


def test_a_run_over_its_timeout_is_terminated_then_killed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    settings = settings_with(tmp_path, {}, kill_after_s=0.3)
    pid_file = tmp_path / "pid"
    script = (
        "import os, signal, time, pathlib\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
        "time.sleep(60)\n"
    )
    result = Scheduler(settings, [], launcher=PYTHON).run(job("hangs", script, timeout_s=1.5))
    assert result.outcome == "timeout" and result.returncode == -9
    assert lines(caplog, "hangs")[0].startswith("hangs run timeout; over 1.5s")
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_shutdown_waits_a_bound_then_terminates_running_jobs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    settings = settings_with(tmp_path, {}, stop_timeout_s=0.2, kill_after_s=2)
    pid_file = tmp_path / "pid"
    script = (
        f"import os, time, pathlib; pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))"
        "; time.sleep(60)"
    )
    daemon = Scheduler(settings, [job("long", script, schedule="0.1s")], launcher=PYTHON)
    stop, thread = serve_in_thread(daemon)
    try:
        wait_until(pid_file.exists, deadline_s=10, what="the job to start", poll_s=0.05)
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not thread.is_alive() and daemon.running() == []
    assert re.match(r"long run stopped; \d+\.\ds", lines(caplog, "long")[-1])
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_a_command_the_cli_does_not_know_fails_its_run_with_a_clear_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    assert command_problem(["produce", "bcb"]) is None
    assert "invalid choice: 'no-such-job'" in (command_problem(["batch", "no-such-job"]) or "")
    unknown = PlannedJob("future", "1h", ("batch", "no-such-job"), 30.0, parse_schedule("1h"))
    result = Scheduler(Settings(home=tmp_path), [], launcher=LAKEHOUSE_CLI).run(unknown)
    assert result.outcome == "failed rc=2"
    assert "invalid choice: 'no-such-job'" in lines(caplog, "future")[0]


def test_settings_defaults_and_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = Settings().scheduled_jobs
    assert list(jobs) == list(DEFAULT_SCHEDULED_JOBS)
    assert jobs["bcb"].schedule == Settings().bcb.schedule
    assert jobs["weather"].command == ("produce", "weather")
    assert jobs["maintenance"].schedule == "0 3 * * *" and jobs["maintenance"].enabled

    monkeypatch.setenv("LAKEHOUSE_BCB__SCHEDULE", "6h")
    monkeypatch.setenv("LAKEHOUSE_SCHEDULE__JOBS__QUALITY__SCHEDULE", "30m")
    monkeypatch.setenv("LAKEHOUSE_SCHEDULE__JOBS__LIFECYCLE__ENABLED", "false")
    monkeypatch.setenv("LAKEHOUSE_SCHEDULE__JOBS__REPLAY__SCHEDULE", "1d")
    monkeypatch.setenv("LAKEHOUSE_SCHEDULE__JOBS__REPLAY__COMMAND", '["batch", "replay"]')
    monkeypatch.setenv("LAKEHOUSE_SCHEDULE__MAX_PARALLEL_RUNS", "1")
    settings = Settings()
    jobs = settings.scheduled_jobs
    assert jobs["bcb"].schedule == "6h"
    assert jobs["quality"].schedule == "30m" and jobs["quality"].command == ("batch", "quality")
    assert not jobs["lifecycle"].enabled and jobs["lifecycle"].command == ("batch", "lifecycle")
    assert jobs["replay"].command == ("batch", "replay") and jobs["replay"].schedule == "1d"
    assert settings.schedule.max_parallel_runs == 1
    assert "lifecycle" not in {j.name for j in plan_jobs(settings)}


def test_invalid_jobs_and_names_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no scheduled job nope"):
        plan_jobs(Settings(home=tmp_path), ["nope"])
    bad = settings_with(tmp_path, {"quality": {"schedule": "hourly"}})
    with pytest.raises(ConfigError, match="scheduled job quality: schedule 'hourly'"):
        plan_jobs(bad)
    with pytest.raises(ConfigError, match="new has no command"):
        plan_jobs(settings_with(tmp_path, {"new": {"schedule": "1h"}}))


def test_list_prints_each_job_its_schedule_and_next_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_with(tmp_path, {"lifecycle": {"enabled": False}})
    now = datetime(2026, 1, 1, 0, 0, tzinfo=timezone.utc)
    rows = {line.split()[0]: line for line in list_jobs(settings, now=now).splitlines()[1:]}
    assert set(rows) == set(DEFAULT_SCHEDULED_JOBS)
    assert "0 3 * * *" in rows["maintenance"] and "2026-01-01T03:00:00+00:00" in rows["maintenance"]
    assert "2026-01-01T12:00:00+00:00" in rows["bcb"] and "lakehouse produce bcb" in rows["bcb"]
    assert "disabled" in rows["lifecycle"]
    only = list_jobs(settings, ["quality"], now=now).splitlines()
    assert len(only) == 2 and "2026-01-01T00:15:00+00:00" in only[1]

    assert main(["schedule", "--list", "--only", "bcb,weather"]) == 0
    out = capsys.readouterr().out
    assert "lakehouse produce bcb" in out and "lakehouse produce weather" in out
