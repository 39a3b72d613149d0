"""Fault injection on a running pipeline, with no manual action.

One supervised streaming application (``lakehouse stream --supervise``, processing-time
trigger) runs on a private stack (its own Kafka, S3 server and PostgreSQL on free ports, so
the shared stack is never disturbed) while the real Olist producer replays a synthetic set in
event time, paced to keep sending through every fault. In sequence:

0. the driver killed with SIGKILL during its very first start, while it creates the lake's
   tables and its queries' checkpoints, at ``FIRST_START_KILLS`` points: it must finish or
   recreate a half-created table by itself on the next start;
1. the driver killed with SIGKILL (its process group: driver and JVM) ``KILLS`` times at
   random points (seeded): a random delay after the driver's first micro-batch, or into its
   start-up; among them the producer is killed with SIGKILL mid-file and started again (it
   resumes from its ledger);
2. PostgreSQL restarted (fast shutdown) while a warehouse load is in progress;
3. the Kafka broker killed with SIGKILL and started again;
4. the S3 server stopped for 30 s, then started.

After each fault the time until the pipeline makes progress again (a micro-batch committed
after a kill, a warehouse batch committed after a service fault, records acknowledged after
the producer's restart) is measured, printed and held under a generous bound. Then the rest
of the set is sent at once; the warehouse must equal the generator's manifest (nothing lost,
nothing duplicated) and so must gold's totals, bronze must hold every Kafka record exactly
once and every row of the files, silver and quarantine must cover bronze with unique keys, and
SIGTERM must stop the supervisor and the application cleanly.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from lakehouse.postgres import connect, role_login
from lakehouse.scheduling import state_dir
from lakehouse.settings import Secrets, Settings
from producers.synthetic import Manifest, generate
from streaming.supervisor import driver_pid_file, read_driver_pid
from tests.faults.private_stack import PrivateStack
from tests.integration import pipeline_input as pi

ORDERS = 240
SEED = 2718
KILLS = 10
TRIGGER = "processingTime=2 seconds"
# The paced replay would take this long: longer than the faults, so records keep arriving
# through all of them; the rest is sent at once at the end.
PACED_REPLAY_S = 1500.0
# Where kills land: "batch" kills come a random delay after the driver's first micro-batch
# (writes under way in every layer); the others a random delay after the driver started (JVM
# start, lease, table checks, query start). A restart costs a JVM start and a first batch, so
# most kills are start-up kills, never more than three in a row (the supervisor's backoff
# doubles with each failure within 30 s of a start).
BATCH_KILLS = (1, 4, 8)
BATCH_DELAY_S = (0.0, 4.0)
START_UP_DELAY_S = (3.0, 30.0)
# Kills during the first start, each when the driver's log shows this much progress since it
# started: its first table created, some tables created, its first query started (writing
# the checkpoint's first files).
FIRST_START_KILLS = (
    ("first table created", re.compile(rb"INFO streaming\.delta_io: created "), 1),
    ("tables being created", re.compile(rb"INFO streaming\.delta_io: created "), 6),
    ("first query starting", re.compile(rb"INFO streaming\.progress: query \w+ started"), 1),
)
S3_DOWN_S = 30.0
RECOVERY_BOUND_S = 240.0  # generous: a restart is a JVM start and a first batch on 2 cores
POLL_S = 0.5
LOAD_IN_PROGRESS = (
    "SELECT pid FROM pg_stat_activity WHERE usename = %s AND datname = %s "
    "AND xact_start IS NOT NULL AND state <> 'idle' "
    "AND query ~ '(stage_|etl\\.batch_log|etl\\.source_version|ops\\.reconciliation|dw\\.)'"
)


@dataclass
class Run:
    """The processes of one faulted run, their logs and the recoveries measured."""

    stack: PrivateStack
    folder: Path
    data_dir: Path
    supervisor: subprocess.Popen[bytes] | None = None
    producer: subprocess.Popen[bytes] | None = None
    recoveries: list[tuple[str, float]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    @property
    def log(self) -> Path:
        return self.folder / "stream.log"

    def lakehouse(self, *argv: str, log: Path) -> subprocess.Popen[bytes]:
        """``lakehouse <argv>`` on the private stack, as a process group of its own."""
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "lakehouse.cli", *argv],
                env={**os.environ, **self.stack.env()},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_producer(self, speedup: float) -> None:
        self.producer = self.lakehouse(
            "produce", "olist", "--data", str(self.data_dir), "--mode", "event-time",
            "--speedup", f"{speedup:.0f}", log=self.folder / "producer.log",
        )  # fmt: skip

    def start_supervisor(self) -> None:
        self.supervisor = self.lakehouse(
            "stream", "--supervise", "--trigger", TRIGGER, log=self.log
        )

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def batches_since(self, offset: int) -> int:
        """Micro-batches logged by the application after byte ``offset`` of its log."""
        return self.lines_since(offset, pi.BATCH_LINE)

    def lines_since(self, offset: int, pattern: re.Pattern[bytes]) -> int:
        """Lines matching ``pattern`` logged after byte ``offset`` of the application's log."""
        if not self.log.exists():
            return 0
        with self.log.open("rb") as handle:
            handle.seek(offset)
            return len(pattern.findall(handle.read()))

    def replayed_groups(self) -> int:
        """Order groups the event-time replay has had acknowledged, from its ledger."""
        ledger = state_dir(self.settings) / "olist-replay-ledger.json"
        try:
            positions = json.loads(ledger.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return 0
        return positions.get(f"event-time:{self.data_dir.resolve()}", {}).get("records", 0)

    def wait(
        self, what: str, condition: Callable[[], bool], deadline_s: float, poll_s: float = POLL_S
    ) -> float:
        """Seconds until ``condition()`` holds (checked every ``poll_s``); fails past the
        deadline or if the supervisor exits."""
        began = time.monotonic()
        while not condition():
            assert self.supervisor is None or self.supervisor.poll() is None, (
                f"the supervisor exited ({self.supervisor.returncode}) while waiting for {what}: "
                f"{self.log_tail()}"
            )
            elapsed = time.monotonic() - began
            assert elapsed < deadline_s, f"no {what} within {deadline_s:.0f} s: {self.log_tail()}"
            time.sleep(poll_s)
        return time.monotonic() - began

    def recovered(self, fault: str, since: float, condition: Callable[[], bool]) -> float:
        """Wait for ``condition`` (the pipeline's progress) and record the time since ``since``
        (the end of the fault) as the fault's recovery time."""
        self.wait(f"progress after: {fault}", condition, RECOVERY_BOUND_S)
        took = time.monotonic() - since
        self.recoveries.append((fault, took))
        print(f"recovered from {fault} in {took:.1f} s", flush=True)
        assert took < RECOVERY_BOUND_S, (fault, took)
        return took

    def warehouse_progress_after(self, moment: datetime, secrets: Secrets) -> Callable[[], bool]:
        return lambda: (pi.warehouse_batches_since(self.settings, secrets, moment) or 0) > 0

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def close(self) -> None:
        """Kill whatever is left: supervisor, driver and producer (process groups)."""
        pids = [p.pid for p in (self.supervisor, self.producer) if p and p.poll() is None]
        driver = read_driver_pid(self.settings)
        for pid in [*pids, *([driver] if driver else [])]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        for process in (self.supervisor, self.producer):
            if process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=30)
        driver_pid_file(self.settings).unlink(missing_ok=True)


BATCH_AT = re.compile(
    rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO streaming\.\w+_job: \w+ batch \d+", re.M
)


@dataclass
class Kill:
    """One SIGKILL of the driver: when (local wall clock, as in the log), where in the log,
    how long the killed driver had run and how soon the supervisor started the next one."""

    number: int
    phase: str
    at: datetime
    offset: int
    lived_s: float
    restart_s: float = 0.0


@dataclass
class Driver:
    """The running driver: its pid, when it was seen starting and its log offset then."""

    pid: int
    started: float
    offset: int


def kill_driver(run: Run, driver: Driver, number: int, phase: str) -> tuple[Kill, Driver]:
    """SIGKILL the driver's process group (driver and JVM); wait for the supervisor to start
    the next one."""
    os.killpg(driver.pid, signal.SIGKILL)
    killed = time.monotonic()
    kill = Kill(number, phase, datetime.now(), run.log_size(), killed - driver.started)
    run.wait(
        "the driver's restart", lambda: read_driver_pid(run.settings) not in (None, driver.pid), 90
    )
    kill.restart_s = time.monotonic() - killed
    print(f"kill {number} ({phase}, {kill.lived_s:.1f} s into the driver's life); "
          f"restarted in {kill.restart_s:.1f} s", flush=True)  # fmt: skip
    pid = read_driver_pid(run.settings)
    assert pid is not None
    return kill, Driver(pid, time.monotonic(), kill.offset)


def next_batch_after(run: Run, offset: int) -> datetime | None:
    """When the first micro-batch logged after byte ``offset`` was logged."""
    with run.log.open("rb") as handle:
        handle.seek(offset)
        found = BATCH_AT.search(handle.read())
    return datetime.strptime(found.group(1).decode(), "%Y-%m-%d %H:%M:%S,%f") if found else None


def first_start_kills(run: Run, started: float) -> Driver:
    """SIGKILL the first driver (started at ``started``) and its successors at each of
    ``FIRST_START_KILLS``, before any micro-batch; returns the driver that then runs."""
    pid = read_driver_pid(run.settings)
    assert pid is not None
    driver = Driver(pid, started, 0)
    for number, (phase, pattern, count) in enumerate(FIRST_START_KILLS, start=1):
        run.wait(
            phase,
            lambda d=driver, p=pattern, n=count: run.lines_since(d.offset, p) >= n,
            RECOVERY_BOUND_S,
            poll_s=0.05,  # the kill lands as soon after the line as it can
        )
        assert run.batches_since(0) == 0, "a micro-batch ran before the first start was killed"
        _kill, driver = kill_driver(run, driver, number, f"first start: {phase}")
    return driver


def kill_series(run: Run, rng: random.Random, speedup: float, driver: Driver) -> list[Kill]:
    """``KILLS`` SIGKILLs of ``driver`` and of its successors at random points; the producer
    killed and restarted after the third. Returns the kills once the pipeline made progress
    after the last."""
    kills: list[Kill] = []
    for number in range(1, KILLS + 1):
        if number in BATCH_KILLS:
            phase = "batch"
            run.wait(
                "a micro-batch", lambda d=driver: run.batches_since(d.offset) > 0, RECOVERY_BOUND_S
            )
            time.sleep(rng.uniform(*BATCH_DELAY_S))
        else:
            phase = "start-up"
            time.sleep(max(0.0, driver.started + rng.uniform(*START_UP_DELAY_S) - time.monotonic()))
        kill, driver = kill_driver(run, driver, number, phase)
        kills.append(kill)
        if number == 3:
            kill_and_restart_producer(run, speedup)
    run.wait("a micro-batch", lambda: run.batches_since(driver.offset) > 0, RECOVERY_BOUND_S)
    for kill, after in zip(kills, [*kills[1:], None], strict=True):
        progress = next_batch_after(run, kill.offset)
        assert progress is not None
        took = (progress - kill.at).total_seconds()
        through = " (killed again meanwhile)" if after and after.at < progress else ""
        fault = f"driver SIGKILL {kill.number} ({kill.phase})"
        run.recoveries.append((fault + through, took))
        print(f"recovered from {fault} in {took:.1f} s{through}", flush=True)
        assert took < RECOVERY_BOUND_S, (fault, took)
    return kills


def kill_and_restart_producer(run: Run, speedup: float) -> None:
    """SIGKILL the replay mid-file, start it again; it must resume from its ledger."""
    assert run.producer is not None and run.producer.poll() is None, "the replay ended early"
    os.killpg(run.producer.pid, signal.SIGKILL)
    run.producer.wait(timeout=30)
    done = run.replayed_groups()
    print(f"producer killed with SIGKILL after {done} order groups", flush=True)
    restarted = time.monotonic()
    run.start_producer(speedup)
    run.recovered("producer killed mid-file", restarted, lambda: run.replayed_groups() > done)


def wait_for_load_in_progress(run: Run, secrets: Secrets, deadline_s: float) -> float:
    """Seconds until a warehouse load is seen in progress (a loader transaction at work on the
    star schema or the load's bookkeeping); one connection, polled fast."""
    loader, _ = role_login(run.settings, "loader")
    params = (loader, run.settings.warehouse_database)
    began = time.monotonic()
    with connect(run.settings, secrets, role="superuser") as conn:
        conn.autocommit = True  # in a transaction, pg_stat_activity would stay as first read
        while not conn.execute(LOAD_IN_PROGRESS, params).fetchone():
            assert run.supervisor is not None and run.supervisor.poll() is None, run.log_tail()
            assert time.monotonic() - began < deadline_s, (
                f"no warehouse load seen: {run.log_tail()}"
            )
            time.sleep(0.02)
    return time.monotonic() - began


@pytest.mark.timeout(1800)
def test_pipeline_recovers_from_faults_without_manual_action(
    faults_stack: PrivateStack,
    secrets: Secrets,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    report_recovery: Callable[[str], None],
) -> None:
    stack = faults_stack
    settings = stack.settings
    rng = random.Random(SEED)
    data_dir = tmp_path / "data"
    manifest: Manifest = generate(data_dir, ORDERS, seed=SEED, bad_rows=6)
    pi.produce_side_input(settings, manifest)
    span = (
        datetime.fromisoformat(manifest.last_purchase)
        - datetime.fromisoformat(manifest.first_purchase)
    ).total_seconds()
    speedup = span / PACED_REPLAY_S
    run = Run(stack, tmp_path, data_dir)
    began = time.monotonic()
    try:
        run.start_producer(speedup)
        run.start_supervisor()
        started = time.monotonic()
        run.wait("the first driver", lambda: read_driver_pid(settings) is not None, 60)

        # 0. SIGKILL of the driver during its first start, at each of FIRST_START_KILLS
        driver = first_start_kills(run, started)
        first = run.wait("the first micro-batch", lambda: run.batches_since(0) > 0, 600)
        print(f"first micro-batch {first:.1f} s after the last first-start kill", flush=True)
        run.recoveries.append(("driver SIGKILLs during its first start", first))

        # 1. SIGKILL of the driver, KILLS times; the producer killed once among them
        kill_series(run, rng, speedup, driver)

        # 2. PostgreSQL restarted during a warehouse load
        wait_for_load_in_progress(run, secrets, 300)
        stack.stop("postgres")
        stack.start("postgres")
        ended, end = time.monotonic(), datetime.now(UTC)
        run.recovered(
            "PostgreSQL restart during a load", ended, run.warehouse_progress_after(end, secrets)
        )

        # 3. the Kafka broker killed, then started again
        stack.kill("kafka")
        stack.start("kafka")
        ended, end = time.monotonic(), datetime.now(UTC)
        run.recovered(
            "Kafka broker SIGKILL and restart", ended, run.warehouse_progress_after(end, secrets)
        )

        # 4. the S3 server stopped for 30 s
        stack.stop("s3")
        time.sleep(S3_DOWN_S)
        stack.start("s3")
        ended, end = time.monotonic(), datetime.now(UTC)
        run.recovered(
            f"S3 server stopped {S3_DOWN_S:.0f} s",
            ended,
            run.warehouse_progress_after(end, secrets),
        )

        # the rest of the set at once, then everything must arrive exactly once
        assert run.producer is not None
        if run.producer.poll() is None:
            run.producer.send_signal(signal.SIGTERM)  # a clean stop: flushed, ledger written
        assert run.producer.wait(timeout=120) == 0
        run.start_producer(1e12)
        assert run.producer.wait(timeout=300) == 0, (tmp_path / "producer.log").read_text()[-3000:]
        drained = run.wait(
            "the warehouse and gold to equal the manifest",
            lambda: _matches(run, secrets, manifest),
            600,
        )
        report_recovery(
            f"warehouse and gold equal to the manifest {drained:.1f} s after the last records"
        )

        assert run.supervisor is not None
        run.supervisor.send_signal(signal.SIGTERM)
        assert run.supervisor.wait(timeout=300) == 0, run.log_tail()
    finally:
        run.close()
        for fault, took in run.recoveries:
            report_recovery(f"{fault}: pipeline progressing again after {took:.1f} s")
        report_recovery(f"faulted run: {time.monotonic() - began:.0f} s in all")
    text = run.log.read_text(errors="replace")
    killed = len(re.findall(r"streaming application killed by SIGKILL", text))
    assert killed == len(FIRST_START_KILLS) + KILLS
    # the PostgreSQL restart: the lease's session went, and the driver took the lease again
    assert "took the lake's lease again on a new PostgreSQL session" in text
    print(f"warehouse loads cut by the restart and loaded again: {text.count('interrupted (')}")
    assert "received SIGTERM: stopping 2 queries" in text
    assert "supervisor done" in text

    checked = time.monotonic()
    pi.assert_warehouse_matches_manifest(settings, secrets, manifest)
    pi.assert_bronze_equals_kafka(settings, secrets)
    pi.assert_bronze_holds_every_row(settings, secrets, manifest)
    spark = request.getfixturevalue("faults_spark")  # started only now: not during the faults
    pi.assert_silver_and_quarantine_cover_bronze(spark, settings)
    print(f"every layer checked in {time.monotonic() - checked:.0f} s")  # gold: see _matches


def _matches(run: Run, secrets: Secrets, manifest: Manifest) -> bool:
    """The warehouse and gold's totals equal the manifest (gold is a query of its own: it may
    finish after the warehouse load)."""
    try:
        pi.assert_warehouse_matches_manifest(run.settings, secrets, manifest)
    except (AssertionError, psycopg.OperationalError):
        return False
    gmv = Decimal(manifest.gmv)
    expected = (gmv, Decimal(manifest.items), Decimal(manifest.freight), gmv, gmv)
    return pi.gold_totals(run.settings, secrets) == expected
