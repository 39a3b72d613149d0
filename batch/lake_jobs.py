"""Batch jobs that rewrite Delta tables (maintenance, erasure, lifecycle, replay) run in the ONE
driver that writes the lake.

Delta on S3 is safe with a single writing driver per table: S3 has no put-if-absent for the
commit file, so two drivers committing the same version can overwrite each other. The driver
that writes holds the lake's *lease*, a PostgreSQL advisory lock taken on a connection of its
own in the namespace's warehouse database (a killed driver's connection closes, which frees
it). When the streaming application holds the lease, ``lakehouse batch <job>`` queues a
request in ``ops.batch_request``; the application's :class:`JobRunner` claims it, runs it
under the tables' write locks (``streaming.delta_io.writing``) beside the live queries and
stores the result, which the command prints. When nothing holds the lease, the command takes
it and runs the job in a Spark session of its own.
"""

from __future__ import annotations

import contextlib
import getpass
import importlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from lakehouse.errors import LakehouseError
from lakehouse.postgres import connect
from lakehouse.settings import Secrets, Settings

log = logging.getLogger(__name__)

LEASE_KEY = 0x4C616B65  # advisory locks are per database: one lake per warehouse database
PICKUP_S = 60.0  # how long a queued request may wait for the application to claim it
POLL_S = 1.0

# job name -> "module:function"; a job is ``f(spark, settings, secrets, args) -> JobResult``
JOBS = {
    "maintain": "batch.maintenance:run_maintenance",
    "erase": "batch.erasure:run_erasure",
    "lifecycle": "batch.lifecycle:run_lifecycle",
    "replay-quarantine": "batch.replay:run_replay_quarantine",
}


class LakeJobError(LakehouseError):
    """A lake job failed, or could not be run or delivered."""


@dataclass
class JobResult:
    """What a job did: a report for people and figures for machines (JSON-able)."""

    report: str
    figures: dict[str, Any] = field(default_factory=dict)


def job_function(job: str) -> Callable[..., JobResult]:
    """The function that runs ``job`` (imported when first needed)."""
    if job not in JOBS:
        raise LakeJobError(f"unknown lake job {job!r}; known: {', '.join(JOBS)}")
    module, name = JOBS[job].split(":")
    return getattr(importlib.import_module(module), name)


class LeaseLostError(LakeJobError):
    """The lake's lease went away under a running driver and could not be taken back."""


class LakeLease:
    """The lake's lease: held from :meth:`acquire` until :meth:`release` or process exit.

    The advisory lock lives in the session of one connection, so a PostgreSQL restart (or a
    terminated backend) frees it without a word: :meth:`check`, called every few seconds by
    a :class:`LeaseWatchdog`, notices and takes it again on a new connection while it is free.
    """

    def __init__(self, settings: Settings, secrets: Secrets, holder: str) -> None:
        self.settings, self.secrets = settings, secrets
        self.holder = f"lakehouse:{holder}@{socket.gethostname()}"
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()  # the connection is used by the watchdog thread too

    def acquire(self) -> bool:
        """Take the lease if free; False when another driver holds it."""
        conn = connect(self.settings, self.secrets, role="loader")
        conn.autocommit = True
        try:
            conn.execute("SELECT set_config('application_name', %s, false)", (self.holder,))
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEASE_KEY,)).fetchone()
        except BaseException:
            conn.close()
            raise
        if not row or not row[0]:
            conn.close()
            return False
        with self._lock:
            self._conn = conn
        log.info("holding the lake %s as %s", self.settings.lake_root, self.holder)
        return True

    def check(self) -> bool:
        """True while the lease is held. When its session is gone (PostgreSQL restarted, the
        backend was terminated), take the lease again on a new connection: True once held
        again, False while PostgreSQL cannot be reached; LeaseLostError when another driver
        took it meanwhile."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise LeaseLostError("the lake's lease was released")
            if not conn.closed:
                try:
                    conn.execute("SELECT 1")
                    return True
                except psycopg.Error as exc:
                    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    log.warning("the lake's lease went with its PostgreSQL session: %s", first_line)
                    with contextlib.suppress(psycopg.Error):
                        conn.close()
        try:
            taken = self.acquire()
        except psycopg.OperationalError as exc:
            log.warning("cannot take the lake's lease again yet: %s", str(exc).strip())
            return False
        if not taken:
            holder = None
            with contextlib.suppress(psycopg.Error):
                holder = lease_holder(self.settings, self.secrets)
            raise LeaseLostError(
                f"the lake {self.settings.lake_root} was taken by {holder or 'another driver'} "
                "while this driver's PostgreSQL session was gone; stopping so that only one "
                "driver writes it"
            )
        log.info("took the lake's lease again on a new PostgreSQL session")
        return True

    def release(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(psycopg.Error):
                    self._conn.close()  # closing the session frees its advisory locks
                self._conn = None

    def __enter__(self) -> LakeLease:
        if not self.acquire():
            holder = lease_holder(self.settings, self.secrets) or "another driver"
            raise LakeJobError(f"the lake {self.settings.lake_root} is held by {holder}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class LeaseWatchdog(threading.Thread):
    """Checks the lease every ``interval_s`` (:meth:`LakeLease.check`). ``error`` is set, and
    the application must stop, when another driver took the lease or PostgreSQL stayed out of
    reach for ``grace_s`` (then nothing proves this driver is still the only writer)."""

    def __init__(self, lease: LakeLease, interval_s: float = 3.0, grace_s: float = 60.0) -> None:
        super().__init__(name="lake-lease-watchdog", daemon=True)
        self.lease, self.interval_s, self.grace_s = lease, interval_s, grace_s
        self.error: LeaseLostError | None = None
        self.stopping = threading.Event()
        self._unreachable_since: float | None = None

    def run(self) -> None:
        while not self.stopping.wait(self.interval_s) and self.error is None:
            self.check_once()

    def check_once(self) -> None:
        """One check; sets ``error`` when the lease is lost for good."""
        try:
            held = self.lease.check()
        except LeaseLostError as exc:
            self.error = exc
            return
        except Exception as exc:  # a bug here must stop the driver, not leave it unguarded
            self.error = LeaseLostError(f"the lake's lease could not be checked: {exc}")
            return
        now = time.monotonic()
        if held:
            self._unreachable_since = None
        elif self._unreachable_since is None:
            self._unreachable_since = now
        elif now - self._unreachable_since > self.grace_s:
            self.error = LeaseLostError(
                f"the lake's lease could not be taken again: PostgreSQL at "
                f"{self.lease.settings.postgres.host}:{self.lease.settings.postgres.port} "
                f"unreachable for {self.grace_s:.0f} s"
            )

    def stop(self) -> None:
        self.stopping.set()
        self.join(self.interval_s + 10)


def lease_holder(settings: Settings, secrets: Secrets) -> str | None:
    """The application name of the session holding the lake's lease, or None."""
    with connect(settings, secrets, role="loader") as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %s "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (LEASE_KEY,),
        ).fetchone()
    return row[0] if row else None


def run_job(
    settings: Settings, secrets: Secrets, job: str, args: dict[str, Any], timeout_s: float
) -> JobResult:
    """Run lake job ``job``: in the streaming application when it holds the lake, else here
    (taking the lease for the job's duration)."""
    job_function(job)  # an unknown job fails here, before anything is queued
    deadline = time.monotonic() + timeout_s
    while True:
        lease = LakeLease(settings, secrets, f"batch-{job}")
        if lease.acquire():
            try:
                return _run_here(settings, secrets, job, args)
            finally:
                lease.release()
        holder = lease_holder(settings, secrets)
        log.info("the lake is held by %s: queueing %s there", holder, job)
        result = _delegate(settings, secrets, job, args, deadline)
        if result is not None:
            return result
        log.info("the holder went away before taking the request; trying again")


def _run_here(settings: Settings, secrets: Secrets, job: str, args: dict[str, Any]) -> JobResult:
    from lakehouse.spark import build_spark_session

    spark = build_spark_session(f"lakehouse-batch-{job}", settings, secrets)
    try:
        return job_function(job)(spark, settings, secrets, args)
    finally:
        spark.stop()


def _delegate(
    settings: Settings, secrets: Secrets, job: str, args: dict[str, Any], deadline: float
) -> JobResult | None:
    """Queue ``job`` for the lease holder and wait for its outcome; None when the request was
    withdrawn because nobody claimed it and the lease became free."""
    with connect(settings, secrets, role="loader") as conn:
        conn.autocommit = True
        (request_id,) = conn.execute(
            "INSERT INTO ops.batch_request (job, args, requested_by) VALUES (%s, %s, %s) "
            "RETURNING request_id",
            (job, Jsonb(args), f"{getpass.getuser()}@{socket.gethostname()}"),
        ).fetchone()  # type: ignore[misc]
        queued_at = time.monotonic()
        while time.monotonic() < deadline:
            started, finished, outcome, result, error = conn.execute(
                "SELECT started_at, finished_at, outcome, result, error FROM ops.batch_request "
                "WHERE request_id = %s",
                (request_id,),
            ).fetchone()  # type: ignore[misc]
            if finished is not None:
                if outcome != "ok":
                    raise LakeJobError(f"{job} (request {request_id}) failed: {error}")
                return JobResult(result["report"], result["figures"])
            waited = time.monotonic() - queued_at
            if started is None and waited > PICKUP_S:
                if lease_holder(settings, secrets) is None and _withdraw(conn, request_id):
                    return None
                raise LakeJobError(
                    f"request {request_id}: the streaming application holds the lake but has "
                    f"not taken the request in {PICKUP_S:.0f} s"
                )
            if (
                started is not None
                and int(waited) % 10 == 0
                and not lease_holder(settings, secrets)
            ):
                raise LakeJobError(
                    f"{job} (request {request_id}): the application running it stopped before "
                    "it finished; run the command again"
                )
            time.sleep(POLL_S)
        raise LakeJobError(f"{job} (request {request_id}) did not finish in time")


def _withdraw(conn: psycopg.Connection, request_id: int) -> bool:
    deleted = conn.execute(
        "DELETE FROM ops.batch_request WHERE request_id = %s AND started_at IS NULL",
        (request_id,),
    )
    return deleted.rowcount == 1


class JobRunner(threading.Thread):
    """The streaming application's runner of queued lake jobs: claims requests one at a time
    and runs them with the application's Spark session. A failing job is recorded and the
    runner goes on; the queries are not touched."""

    def __init__(self, spark: Any, settings: Settings, secrets: Secrets, runner: str) -> None:
        super().__init__(name="lake-job-runner", daemon=True)
        self.spark, self.settings, self.secrets, self.runner = spark, settings, secrets, runner
        self.stopping = threading.Event()
        self.running: int | None = None  # the request being run

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                claimed = self._claim()
            except psycopg.Error as exc:
                log.warning("lake job runner: cannot read the request queue: %s", exc)
                claimed = None
            if claimed is None:
                self.stopping.wait(POLL_S)
                continue
            self._run(*claimed)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking requests; a job still running after ``timeout_s`` is recorded as
        interrupted (the application is stopping under it)."""
        self.stopping.set()
        self.join(timeout_s)
        if self.running is not None:
            log.warning("lake job request %d interrupted by shutdown", self.running)
            self._finish(self.running, "failed", None, "interrupted: the application stopped")

    def _claim(self) -> tuple[int, str, dict[str, Any]] | None:
        with connect(self.settings, self.secrets, role="loader") as conn:
            return conn.execute(  # type: ignore[return-value]
                "UPDATE ops.batch_request SET started_at = now(), runner = %s "
                "WHERE request_id = (SELECT request_id FROM ops.batch_request "
                "  WHERE started_at IS NULL ORDER BY request_id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                "RETURNING request_id, job, args",
                (self.runner,),
            ).fetchone()

    def _run(self, request_id: int, job: str, args: dict[str, Any]) -> None:
        began = time.monotonic()
        outcome, result, error = "ok", None, None
        self.running = request_id
        try:
            done = job_function(job)(self.spark.newSession(), self.settings, self.secrets, args)
            result = {"report": done.report, "figures": done.figures}
        except Exception as exc:  # recorded for the requester; the application goes on
            outcome, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
            log.exception("lake job %s (request %d) failed", job, request_id)
        self.running = None
        self._finish(request_id, outcome, result, error)
        log.info(
            "lake job %s (request %d): %s in %.1f s",
            job,
            request_id,
            outcome,
            time.monotonic() - began,
        )

    def _finish(
        self, request_id: int, outcome: str, result: dict[str, Any] | None, error: str | None
    ) -> None:
        with connect(self.settings, self.secrets, role="loader") as conn:
            conn.execute(
                "UPDATE ops.batch_request SET finished_at = now(), outcome = %s, result = %s, "
                "error = %s WHERE request_id = %s AND finished_at IS NULL",
                (outcome, Jsonb(result) if result else None, error, request_id),
            )


def print_result(result: JobResult, as_json: bool) -> None:
    """Print a job's report, or its figures as JSON."""
    print(json.dumps(result.figures, indent=2, default=str) if as_json else result.report)
