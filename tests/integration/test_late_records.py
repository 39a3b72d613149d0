"""Records whose Kafka timestamps are hours older than records already processed (a backlog
after downtime, read in proportion across topics) are not "late": every one reaches silver or
the quarantine and the warehouse, and no query drops a row behind a watermark."""

from __future__ import annotations

import time

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from lakehouse.kafka import ensure_topics
from lakehouse.postgres import connect
from lakehouse.registry import all_topics, kafka_topic, table_path
from lakehouse.settings import Secrets, Settings
from streaming.app import start_queries
from streaming.bronze_job import read_bronze
from tests.integration import pipeline_input as pi

HOURS_OLDER = 3
TOPIC = "olist.orders"


def _stream(spark: SparkSession, settings: Settings, secrets: Secrets) -> list[dict]:
    """Run every query of the application until it has drained Kafka; their progress reports."""
    queries = start_queries(spark, settings, "availableNow", secrets)
    for query in queries:
        query.awaitTermination()
        assert query.exception() is None, query.exception()
    return [p for q in queries for p in q.recentProgress]


def _count(spark: SparkSession, settings: Settings, layer: str, name: str, where: Column) -> int:
    frame = spark.read.format("delta").load(table_path(settings, layer, name))
    return frame.where(where).count()


def test_records_hours_older_than_those_processed_are_all_kept(
    spark: SparkSession, ns_settings: Settings, secrets: Secrets
) -> None:
    ensure_topics(ns_settings, all_topics())
    now_ms = int(time.time() * 1000)
    pi.send_orders(ns_settings, "late", 0, 10, now_ms)
    first = _stream(spark, ns_settings, secrets)
    pi.send_orders(ns_settings, "late", 10, 1000, now_ms - HOURS_OLDER * 3600 * 1000)
    second = _stream(spark, ns_settings, secrets)

    dropped = [
        operator.get("numRowsDroppedByWatermark", 0)
        for progress in first + second
        for operator in progress.get("stateOperators") or []
    ]
    assert sum(dropped) == 0, dropped
    sent = F.col("topic") == kafka_topic(ns_settings, TOPIC)
    assert read_bronze(spark, ns_settings, TOPIC).count() == 1010
    silver = _count(spark, ns_settings, "silver", "orders", F.col("order_id").startswith("late-"))
    quarantined = _count(spark, ns_settings, "silver", "quarantine", sent)
    assert (silver, quarantined) == (1010, 0)
    with connect(ns_settings, secrets, role="reader") as conn:
        (loaded,) = conn.execute(
            "SELECT count(*) FROM dw.fct_order WHERE order_id LIKE 'late-%'"
        ).fetchone()
    assert loaded == 1010
