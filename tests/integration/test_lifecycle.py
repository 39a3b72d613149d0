"""Lifecycle on the real S3 server: bronze partitions older than the hot window move to the
cold table of their topic, the rest stay, a second run changes nothing, and each move is in
the audit trail."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from batch.lifecycle import run_lifecycle
from lakehouse.registry import cold_path, table_path
from lakehouse.settings import Secrets, Settings
from security.runtime import audit_trail
from streaming.bronze_job import BRONZE_SCHEMA


def _bronze_rows(spark: SparkSession, days: dict[date, int]) -> DataFrame:
    rows = [
        ("k", f'{{"n": {i}}}', "olist.orders", 0, i, datetime(2026, 1, 1), datetime(2026, 1, 1), d)
        for d, count in days.items()
        for i in range(count)
    ]
    return spark.createDataFrame(rows, BRONZE_SCHEMA)


def test_old_bronze_partitions_move_to_cold_once(
    spark: SparkSession, ns_settings: Settings, secrets: Secrets
) -> None:
    today = datetime.now(UTC).date()
    old, older, recent = today - timedelta(days=40), today - timedelta(days=100), today
    path = table_path(ns_settings, "bronze", "events")
    _bronze_rows(spark, {older: 3, old: 2, recent: 4}).write.format("delta").partitionBy(
        "ingest_date"
    ).save(path)

    result = run_lifecycle(spark, ns_settings, secrets, {"older_than_days": 30})

    moved = result.figures["tables"]["bronze.events"]
    assert moved == {"rows": 5, "dates": [older.isoformat(), old.isoformat()]}
    bronze = spark.read.format("delta").load(path)
    cold = spark.read.format("delta").load(cold_path(ns_settings, "bronze", "events"))
    assert sorted(r.ingest_date for r in bronze.select("ingest_date").distinct().collect()) == [
        recent
    ]
    assert bronze.count() == 4
    counts = {r.ingest_date: r["count"] for r in cold.groupBy("ingest_date").count().collect()}
    assert counts == {older: 3, old: 2}
    assert cold.where(F.col("offset").isNull()).count() == 0

    again = run_lifecycle(spark, ns_settings, secrets, {"older_than_days": 30})
    assert again.figures["tables"] == {}
    assert spark.read.format("delta").load(path).count() == 4
    assert cold.count() == 5

    entries = [json.loads(line) for _, line in audit_trail(ns_settings).entries()]
    assert any(
        e["action"] == "lifecycle.bronze"
        and e["target"] == "bronze.events"
        and f"5 rows of 2 ingest dates ({older}..{old})" in e["outcome"]
        for e in entries
    ), entries[-3:]
