"""``lakehouse demo``: the main job. For now: install what is missing, start the stack, push
smoke events through Kafka into a Delta table on S3, check PostgreSQL, and print a summary."""

from __future__ import annotations

import logging
import time
import uuid

from lakehouse.errors import LakehouseError
from lakehouse.install.setup import run_setup
from lakehouse.postgres import connect
from lakehouse.settings import Settings, load_secrets
from lakehouse.stack import control
from producers.smoke import produce_smoke_events
from security.runtime import audited_pipeline

log = logging.getLogger(__name__)


def run_demo(settings: Settings, events: int = 1000) -> int:
    """Run the main job end to end and print a summary."""
    timings: dict[str, float] = {}

    def step(name: str, began: float) -> None:
        timings[name] = time.monotonic() - began

    began = time.monotonic()
    run_setup(settings)
    step("setup", began)

    began = time.monotonic()
    control.up(settings)
    step("stack up", began)

    began = time.monotonic()
    run_id = uuid.uuid4().hex[:12]
    acked = produce_smoke_events(settings, events, run_id)
    step("produce", began)

    from pyspark.sql import functions as F

    from lakehouse.spark import build_spark_session
    from streaming.smoke import run_smoke_stream, smoke_table

    began = time.monotonic()
    spark = build_spark_session("lakehouse-demo", settings)
    with audited_pipeline(settings, "smoke_bronze"):
        streamed = run_smoke_stream(spark, settings, "availableNow")
    table = spark.read.format("delta").load(smoke_table(settings))
    total = table.count()
    this_run = table.where(F.get_json_object("value", "$.run_id") == run_id).count()
    versions = spark.sql(f"DESCRIBE HISTORY delta.`{smoke_table(settings)}`").count()
    step("stream to Delta", began)

    began = time.monotonic()
    with connect(settings, load_secrets(settings)) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
    step("PostgreSQL check", began)

    print("\n== lakehouse demo summary")
    print(f"events produced and acknowledged : {acked}")
    print(f"rows streamed into Delta (run)   : {streamed}")
    print(f"rows of this run in the table    : {this_run}")
    print(f"rows in {smoke_table(settings)} : {total} ({versions} table versions)")
    pg = settings.postgres
    print(f"PostgreSQL                       : {pg_version} at {pg.host}:{pg.port}")
    print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    print("The stack stays up: `lakehouse stack status`, `lakehouse stack down` to stop it.")
    if this_run != acked:
        raise LakehouseError(f"{acked} events acknowledged but {this_run} reached the Delta table")
    return 0
