"""``lakehouse batch replay-quarantine [--since TS]``: after a fix (a contract that now accepts
what it rejected, a corrected parser), run silver.quarantine's records again through silver's
transforms. Records that pass are MERGEd into their silver table (the same MERGE as the
stream's, so a record already there changes nothing), are loaded into the warehouse as the
stream loads them, and leave the quarantine; the others
stay, with the reason the current code gives. Records rejected before silver (the producers'
dead letters, ``*.dlq`` topics) hold raw CSV lines, not envelopes: replay those by replaying
the fixed source file (``lakehouse produce olist``), whose event ids make re-sent rows
idempotent.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from batch.lake_jobs import JobResult
from lakehouse.registry import table_path
from lakehouse.settings import Secrets, Settings
from security.runtime import masking_key
from streaming.contracts import CONTRACTS
from streaming.delta_io import writing
from streaming.silver import parse_envelopes, quarantined_rows, type_payload, valid_rows
from streaming.silver_job import QUARANTINE, merge_entity, prepare
from streaming.warehouse_job import load_warehouse

log = logging.getLogger(__name__)

KEY = ("topic", "partition", "offset", "stage")


def as_bronze(quarantine: DataFrame) -> DataFrame:
    """Quarantine rows in bronze's shape (the raw value and its coordinates), so silver's
    transforms take them as they took the original records."""
    return quarantine.select(
        F.col("raw_value").alias("value"), "topic", "partition", "offset", "kafka_timestamp"
    )


def retype(quarantine: DataFrame, entity: str) -> DataFrame:
    """The quarantined records of silver ``entity`` typed again by the current contract."""
    rows = quarantine.where(F.col("stage") == f"silver.{entity}")
    return type_payload(parse_envelopes(as_bronze(rows)), CONTRACTS[entity])


def run_replay_quarantine(
    spark: SparkSession, settings: Settings, secrets: Secrets, args: dict[str, Any]
) -> JobResult:
    """The ``replay-quarantine`` lake job: records seen since ``args["since"]`` (all when
    absent)."""
    from delta.tables import DeltaTable

    key = masking_key(settings)
    path = table_path(settings, "silver", QUARANTINE)
    quarantine = spark.read.format("delta").load(path).where(F.col("stage").startswith("silver."))
    if args.get("since"):
        since = datetime.fromisoformat(str(args["since"]))
        quarantine = quarantine.where(F.col("seen_at") >= F.lit(since))
    quarantine = quarantine.persist()
    moved: dict[str, int] = {}
    kept: dict[str, int] = {}
    passed, failing = [], []
    good_rows: dict[str, DataFrame] = {}
    try:
        stages = [r.stage for r in quarantine.select("stage").distinct().collect()]
        for entity in sorted(s.removeprefix("silver.") for s in stages):
            if entity not in CONTRACTS:
                continue
            typed = retype(quarantine, entity).persist()
            good = valid_rows(typed)
            good_rows[entity] = prepare(good, CONTRACTS[entity], key).persist()
            silver_path = table_path(settings, "silver", entity)
            with writing(silver_path):
                merge_entity(
                    DeltaTable.forPath(spark, silver_path), good_rows[entity], CONTRACTS[entity]
                )
            moved[entity] = good.count()
            still = quarantined_rows(typed, f"silver.{entity}")
            kept[entity] = still.count()
            passed.append(good.select(*KEY[:3], F.lit(f"silver.{entity}").alias("stage")))
            failing.append(still.select(*KEY, "reason"))
        if passed:
            # the warehouse gets the rows that passed as the stream would have loaded them
            query = ("replay-quarantine", str(uuid.uuid4()), 0)
            load_warehouse(good_rows, settings, secrets, key, query=query)
            _settle(spark, path, passed, failing)
    finally:
        quarantine.unpersist()
        for frame in good_rows.values():
            frame.unpersist()
    lines = [
        f"silver.{e}: {moved[e]} records moved to silver, {kept[e]} kept in quarantine"
        for e in sorted(moved)
    ]
    lines.append(
        f"{sum(moved.values())} moved, {sum(kept.values())} kept"
        if moved
        else "no quarantined records to replay"
    )
    return JobResult("\n".join(lines), {"moved": moved, "kept": kept})


def _settle(
    spark: SparkSession, path: str, passed: list[DataFrame], failing: list[DataFrame]
) -> None:
    """Delete the records that passed from the quarantine and give the others the reason the
    current code gives, in one MERGE."""
    from delta.tables import DeltaTable

    outcome = passed[0].withColumn("reason", F.lit(None).cast("string"))
    for frame in passed[1:]:
        outcome = outcome.unionByName(frame.withColumn("reason", F.lit(None).cast("string")))
    for frame in failing:
        outcome = outcome.unionByName(frame)
    outcome = outcome.dropDuplicates(list(KEY))
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in KEY)
    with writing(path):
        (
            DeltaTable.forPath(spark, path)
            .alias("t")
            .merge(outcome.alias("s"), condition)
            .whenMatchedDelete(condition="s.reason IS NULL")
            .whenMatchedUpdate(
                condition="s.reason IS NOT NULL AND s.reason <> t.reason",
                set={"reason": "s.reason", "seen_at": "current_timestamp()"},
            )
            .execute()
        )
