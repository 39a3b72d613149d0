"""Quarantine replay on the real S3 server: a record quarantined by an earlier contract that
the current one accepts moves to silver; a record still wrong stays with today's reason; a
second replay changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from batch.replay import run_replay_quarantine
from lakehouse.registry import table_path
from lakehouse.settings import Secrets, Settings
from producers.envelope import envelope
from security.runtime import masking_key
from streaming.silver_job import QUARANTINE_SCHEMA, ensure_silver_tables

ORDER = {
    "order_id": "o-replayed",
    "customer_id": "c-1",
    "order_status": "delivered",
    "order_purchase_timestamp": "2018-03-01 10:00:00",
    "order_approved_at": "",
    "order_delivered_carrier_date": "",
    "order_delivered_customer_date": "",
    "order_estimated_delivery_date": "",
}


def _quarantined(offset: int, payload: dict[str, str], old_reason: str) -> tuple:
    _, value = envelope("olist", "orders", ("order_id",), payload)
    seen = datetime(2026, 1, 1, tzinfo=UTC)
    return (value.decode(), "olist.orders", 0, offset, seen, "silver.orders", old_reason, seen)


def test_replay_moves_what_passes_and_keeps_the_rest(
    spark: SparkSession, ns_settings: Settings, secrets: Secrets
) -> None:
    ensure_silver_tables(spark, ns_settings, masking_key(ns_settings), only=("orders",))
    still_bad = {**ORDER, "order_id": "o-still-bad", "order_purchase_timestamp": "01/03/2018"}
    rows = [
        _quarantined(7, ORDER, "order_purchase_timestamp: not a timestamp (old contract)"),
        _quarantined(8, still_bad, "order_purchase_timestamp: old reason"),
        (json.dumps({"no": "envelope"}), "olist.orders", 0, 9, None, "silver.orders", "x", None),
    ]
    quarantine_path = table_path(ns_settings, "silver", "quarantine")
    spark.createDataFrame(rows, QUARANTINE_SCHEMA).write.format("delta").mode("append").save(
        quarantine_path
    )

    result = run_replay_quarantine(spark, ns_settings, secrets, {})

    assert result.figures == {"moved": {"orders": 1}, "kept": {"orders": 2}}
    orders = spark.read.format("delta").load(table_path(ns_settings, "silver", "orders"))
    assert [r.order_id for r in orders.collect()] == ["o-replayed"]
    left = spark.read.format("delta").load(quarantine_path)
    reasons = {r.offset: r.reason for r in left.collect()}
    assert set(reasons) == {8, 9}
    assert "old reason" not in reasons[8] and "order_purchase_timestamp" in reasons[8]
    assert reasons[9] == "envelope lacks event_id; envelope lacks payload"

    again = run_replay_quarantine(spark, ns_settings, secrets, {"since": "2020-01-01"})
    assert again.figures == {"moved": {"orders": 0}, "kept": {"orders": 2}}
    assert orders.count() == 1
    assert left.where(F.col("offset") == 8).count() == 1
