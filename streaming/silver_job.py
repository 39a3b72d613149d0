"""The silver queries: one per entity, reading its bronze Delta table as a stream.

Each micro-batch goes through the pure transforms (parse, type by contract, split, mask) in a
named foreachBatch function, then: quarantined rows are appended to ``silver.quarantine``;
good rows are MERGEd into ``silver.<entity>``: on the natural key for entities that change
(the newest ``produced_at`` wins), on ``event_id`` (insert only) for the others. Before that,
duplicates are dropped by ``event_id`` within a watermark (RocksDB state). Writes carry Delta's
idempotent transaction ids, so a batch replayed after a crash changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from lakehouse.registry import BCB_TOPIC, OLIST_ENTITIES, WEATHER_TOPIC, checkpoint_path, table_path
from lakehouse.settings import Settings
from lakehouse.spark import trigger_options
from streaming.bronze_job import BRONZE_SCHEMA
from streaming.contracts import CONTRACTS, Contract
from streaming.delta_io import ensure_table, idempotent_merge
from streaming.silver import (
    mask_customers,
    parse_envelopes,
    quarantined_rows,
    redact_reviews,
    type_payload,
    valid_rows,
)

log = logging.getLogger(__name__)

# entity -> the bronze topic it comes from
ENTITY_TOPICS = {e.entity: e.topic.name for e in OLIST_ENTITIES} | {
    "sgs": BCB_TOPIC.name,
    "weather": WEATHER_TOPIC.name,
}
QUARANTINE = "quarantine"
DEDUP_WATERMARK = "1 hour"


QUARANTINE_SCHEMA = (
    "raw_value STRING, topic STRING, partition INT, offset LONG, kafka_timestamp TIMESTAMP, "
    "stage STRING, reason STRING, seen_at TIMESTAMP"
)


def ensure_silver_tables(
    spark: SparkSession, settings: Settings, masking_key: tuple[int, bytes]
) -> None:
    """Create silver.quarantine and every entity's table (with the change data feed gold
    reads) before the queries start: several queries creating the shared quarantine table at
    once in an empty folder conflict, and gold's streams need their sources to exist."""
    ensure_table(spark, table_path(settings, "silver", QUARANTINE), QUARANTINE_SCHEMA)
    empty_bronze = spark.createDataFrame([], BRONZE_SCHEMA)
    for contract in CONTRACTS.values():
        typed = type_payload(parse_envelopes(empty_bronze), contract)
        good = prepare(valid_rows(typed), contract, masking_key)
        ensure_table(spark, table_path(settings, "silver", contract.entity), good, change_feed=True)


def prepare(good: DataFrame, contract: Contract, masking_key: tuple[int, bytes]) -> DataFrame:
    """Personal data masked, and one row per merge key: the newest ``produced_at``."""
    if contract.entity == "customers":
        version, key = masking_key
        good = mask_customers(good, key, version)
    elif contract.entity == "order_reviews":
        good = redact_reviews(good)
    merge_key = list(contract.natural_key) if contract.changes else ["event_id"]
    newest = Window.partitionBy(*merge_key).orderBy(F.col("produced_at").desc(), "event_id")
    return good.withColumn("_rank", F.row_number().over(newest)).where("_rank = 1").drop("_rank")


def silver_writer(
    settings: Settings, contract: Contract, masking_key: tuple[int, bytes]
) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function of one entity."""
    app_id = f"silver_{contract.entity}"
    target = table_path(settings, "silver", contract.entity)
    quarantine = table_path(settings, "silver", QUARANTINE)

    def write_silver_batch(batch: DataFrame, batch_id: int) -> None:
        typed = type_payload(parse_envelopes(batch), contract).persist()
        try:
            (
                quarantined_rows(typed, f"silver.{contract.entity}")
                .write.format("delta")
                .mode("append")
                .option("txnAppId", f"{app_id}_quarantine")
                .option("txnVersion", batch_id)
                .save(quarantine)
            )
            good = prepare(valid_rows(typed), contract, masking_key)
            table = DeltaTable.forPath(batch.sparkSession, target)
            keys = contract.natural_key if contract.changes else ("event_id",)
            condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
            merge = table.alias("t").merge(good.alias("s"), condition)
            if contract.changes:
                merge = merge.whenMatchedUpdateAll(condition="s.produced_at >= t.produced_at")
            written = idempotent_merge(merge.whenNotMatchedInsertAll(), app_id, batch_id)
            log.debug("%s batch %d: %d rows merged", app_id, batch_id, written)
        finally:
            typed.unpersist()

    write_silver_batch.__name__ = f"write_silver_{contract.entity}"
    return write_silver_batch


def start_silver(
    spark: SparkSession,
    settings: Settings,
    entity: str,
    masking_key: tuple[int, bytes],
    *,
    trigger: str | None = None,
) -> StreamingQuery:
    """Start the silver query of ``entity`` from its bronze table."""
    contract = CONTRACTS[entity]
    bronze = (
        spark.readStream.format("delta")
        .option("maxFilesPerTrigger", 1000)
        .load(table_path(settings, "bronze", ENTITY_TOPICS[entity]))
        .withColumn("_event_id", F.get_json_object("value", "$.event_id"))
        .withWatermark("kafka_timestamp", DEDUP_WATERMARK)
        .dropDuplicatesWithinWatermark(["_event_id", "value"])
        .drop("_event_id")
    )
    query_name = f"silver_{entity}"
    return (
        bronze.writeStream.queryName(query_name)
        .foreachBatch(silver_writer(settings, contract, masking_key))
        .option("checkpointLocation", checkpoint_path(settings, query_name))
        .trigger(**trigger_options(trigger or settings.spark.trigger))
        .start()
    )
