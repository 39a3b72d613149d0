"""The streaming application: ONE Spark driver hosting every streaming query (Delta on S3
allows a single writing driver per table, and 2 cores favour one JVM).

    lakehouse stream [--trigger availableNow|processingTime=2 seconds]
    spark-submit --properties-file spark-defaults.conf streaming/app.py [--trigger ...]

With ``availableNow`` every query drains what is there and the application exits; with
``processingTime`` it runs until SIGTERM/SIGINT, which stops the queries cleanly. A failed
query stops the application with its error rather than leaving the others running.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from batch.lake_jobs import JobRunner, LakeLease, LeaseWatchdog
from lakehouse.settings import Secrets, Settings, load_secrets
from security.runtime import audited_pipeline, masking_key
from streaming.bronze_job import ensure_bronze_table
from streaming.entry import start_job
from streaming.gold_job import start_gold
from streaming.ingest_job import start_ingest
from streaming.progress import ProgressRecorder
from streaming.silver_job import ensure_silver_tables
from streaming.warehouse_job import reconcile_warehouse, silver_totals

log = logging.getLogger(__name__)

APP_NAME = "lakehouse-streaming"
WAKE_EVERY_S = 1.0  # how often the driver looks for a stop signal while queries run


def start_queries(
    spark: SparkSession, settings: Settings, trigger: str | None, secrets: Secrets | None = None
) -> list[StreamingQuery]:
    """Every query of the application, started: ingest (Kafka -> bronze -> silver -> the
    warehouse, one chained micro-batch), then gold (silver's change feed, on its own slower
    trigger), which reconciles the warehouse with silver after each batch. With
    ``availableNow`` ingest drains Kafka before gold starts."""
    key = masking_key(settings)
    secrets = secrets or load_secrets(settings)
    ensure_bronze_table(spark, settings)
    ensure_silver_tables(spark, settings, key)
    queries = [start_ingest(spark, settings, secrets, key, trigger=trigger)]
    if (trigger or settings.spark.trigger) == "availableNow":
        _await_all(queries)
    totals = silver_totals(spark, settings)

    def reconcile(query_id: str, batch_id: int) -> None:
        reconcile_warehouse(settings, secrets, totals, query_id, batch_id)

    return [*queries, start_gold(spark, settings, trigger=trigger, after_batch=reconcile)]


def _await_all(queries: list[StreamingQuery]) -> None:
    """Wait for every query to finish; raise the first failure."""
    for query in queries:
        query.awaitTermination()


def run(spark: SparkSession, settings: Settings, trigger: str | None = None) -> None:
    """Run the queries until they finish (availableNow), fail, or a signal stops them, holding
    the lake's lease (the one writing driver) and running the lake jobs queued meanwhile
    (``lakehouse batch maintain|erase``). Progress goes to ops.stream_progress."""
    secrets = load_secrets(settings)
    with LakeLease(settings, secrets, APP_NAME) as lease:
        watchdog = LeaseWatchdog(lease)
        runner = JobRunner(spark, settings, secrets, lease.holder)
        recorder = ProgressRecorder(settings, secrets)
        spark.streams.addListener(recorder)
        queries: list[StreamingQuery] = []
        watchdog.start()
        runner.start()
        try:
            _run_queries(spark, settings, secrets, trigger, queries, watchdog)
        finally:
            runner.stop()
            watchdog.stop()
            last = {str(q.id): q.lastProgress["batchId"] for q in queries if q.lastProgress}
            if not recorder.wait_until_handled(last):
                log.warning("the progress of the last batches was not all recorded in time")
            spark.streams.removeListener(recorder)
            recorder.close()


def _run_queries(
    spark: SparkSession,
    settings: Settings,
    secrets: Secrets,
    trigger: str | None,
    queries: list[StreamingQuery],
    watchdog: LeaseWatchdog | None = None,
) -> None:
    # The handler only raises a flag: the main thread is inside a py4j call when the signal
    # arrives, and a py4j call from the handler would re-enter that call's socket.
    received: list[int] = []
    previous = {
        s: signal.signal(s, lambda signum, _frame: received.append(signum))
        for s in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        queries += start_queries(spark, settings, trigger, secrets)
        while any(q.isActive for q in queries):
            if received:
                name = signal.Signals(received[0]).name
                log.info("received %s: stopping %d queries", name, len(queries))
                for query in queries:
                    query.stop()
                return
            with contextlib.suppress(StreamingQueryException):  # the failed query is found below
                spark.streams.awaitAnyTermination(WAKE_EVERY_S)
            spark.streams.resetTerminated()
            failed = [q for q in queries if q.exception() is not None]
            if failed:
                for query in queries:
                    query.stop()
                raise RuntimeError(f"query {failed[0].name} failed: {failed[0].exception()}")
            if watchdog is not None and watchdog.error is not None:
                log.error("%s: stopping %d queries", watchdog.error, len(queries))
                for query in queries:
                    query.stop()
                raise watchdog.error
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args, settings, spark = start_job(argv, __doc__.splitlines()[0], APP_NAME)
    with audited_pipeline(settings, APP_NAME):
        run(spark, settings, args.trigger)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
