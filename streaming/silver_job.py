"""The silver query: one stream over every entity's bronze Delta table (they share one
schema). No watermark and no streaming state: a record read hours after newer ones (a backlog
read in proportion across topics) is as welcome as any, and duplicates (a producer re-sending
after a restart, the same event id) are settled by the MERGE below.

Each micro-batch goes, entity by entity, through the pure transforms (parse, type by contract,
split, mask) in a named foreachBatch function; then the quarantined rows of every entity are
appended to ``silver.quarantine`` at once, and each entity's good rows are MERGEd into
``silver.<entity>``: on the natural key for entities that change (the newest ``produced_at``
wins), on ``event_id`` (insert only) for the others. Every write carries Delta's idempotent
transaction id, so a batch replayed after a crash changes nothing. One query rather than one
per entity: on two cores the per-query overhead (a checkpoint commit, a state store, a
quarantine commit per batch) cost more than the work itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import reduce

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from lakehouse.registry import BCB_TOPIC, OLIST_ENTITIES, WEATHER_TOPIC, checkpoint_path, table_path
from lakehouse.settings import Settings
from lakehouse.spark import trigger_options
from streaming.bronze_job import BRONZE_SCHEMA
from streaming.contracts import CONTRACTS, Contract
from streaming.delta_io import (
    create_in_parallel,
    ensure_table,
    idempotent_merge,
    txn_app_id,
    writing,
)
from streaming.progress import record_rows_out
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
QUERY_NAME = "silver"
QUARANTINE = "quarantine"


QUARANTINE_MATCH = " AND ".join(
    f"t.`{c}` = s.`{c}`" for c in ("topic", "partition", "offset", "stage")
)
QUARANTINE_SCHEMA = (
    "raw_value STRING, topic STRING, partition INT, offset LONG, kafka_timestamp TIMESTAMP, "
    "stage STRING, reason STRING, seen_at TIMESTAMP"
)


def ensure_silver_tables(
    spark: SparkSession,
    settings: Settings,
    masking_key: tuple[int, bytes],
    only: Sequence[str] | None = None,
) -> None:
    """Create silver.quarantine and every entity's table (with the change data feed gold
    reads) before the queries start: several queries creating the shared quarantine table at
    once in an empty folder conflict, and gold's streams need their sources to exist.
    ``only``: just these entities' tables (and the quarantine)."""
    ensure_table(spark, table_path(settings, "silver", QUARANTINE), QUARANTINE_SCHEMA)

    def ensure_entity(contract: Contract) -> None:
        def schema() -> DataFrame:
            empty_bronze = spark.createDataFrame([], BRONZE_SCHEMA)
            typed = type_payload(parse_envelopes(empty_bronze), contract)
            return prepare(valid_rows(typed), contract, masking_key)

        path = table_path(settings, "silver", contract.entity)
        ensure_table(spark, path, schema, change_feed=True)

    create_in_parallel(ensure_entity, [c for e, c in CONTRACTS.items() if not only or e in only])


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


def merge_entity(
    table: DeltaTable,
    good: DataFrame,
    contract: Contract,
    app_id: str | None = None,
    batch_id: int | None = None,
) -> int:
    """MERGE one entity's good rows into its silver table: on the natural key for entities that
    change (the newest ``produced_at`` wins), on ``event_id`` (insert only) for the others.
    Idempotent per (``app_id``, ``batch_id``) when given (a streaming batch)."""
    keys = contract.natural_key if contract.changes else ("event_id",)
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    merge = table.alias("t").merge(good.alias("s"), condition)
    if contract.changes:
        merge = merge.whenMatchedUpdateAll(condition="s.produced_at >= t.produced_at")
    return idempotent_merge(merge.whenNotMatchedInsertAll(), app_id, batch_id)


def silver_writer(
    settings: Settings, masking_key: tuple[int, bytes]
) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function of the silver query."""

    def write_silver_batch(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        rows = batch.persist()
        typed: dict[str, DataFrame] = {}
        try:
            entities = sorted(r.entity for r in rows.select("entity").distinct().collect())
            for entity in entities:
                envelopes = parse_envelopes(rows.where(F.col("entity") == entity))
                typed[entity] = type_payload(envelopes, CONTRACTS[entity]).persist()
            if not typed:
                return
            quarantined = reduce(
                DataFrame.unionByName,
                (quarantined_rows(t, f"silver.{e}") for e, t in typed.items()),
            )
            quarantine_path = table_path(settings, "silver", QUARANTINE)
            with writing(quarantine_path):
                quarantine = DeltaTable.forPath(spark, quarantine_path)
                # insert-only on the record's coordinates: a backfill (a new checkpoint
                # replaying bronze) adds no second copy; Delta commits it as an append
                merge = (
                    quarantine.alias("t")
                    .merge(quarantined.alias("s"), QUARANTINE_MATCH)
                    .whenNotMatchedInsertAll()
                )
                idempotent_merge(merge, txn_app_id(batch, QUARANTINE), batch_id)
            merged = {}
            for entity, frame in typed.items():
                contract = CONTRACTS[entity]
                good = prepare(valid_rows(frame), contract, masking_key)
                path = table_path(settings, "silver", entity)
                with writing(path):
                    merged[entity] = merge_entity(
                        DeltaTable.forPath(spark, path),
                        good,
                        contract,
                        txn_app_id(batch, entity),
                        batch_id,
                    )
            merged[QUARANTINE] = quarantined.count()
            record_rows_out(batch, batch_id, sum(merged.values()))
            log.info(
                "silver batch %d: %s", batch_id, ", ".join(f"{e} {n}" for e, n in merged.items())
            )
        finally:
            for frame in typed.values():
                frame.unpersist()
            rows.unpersist()

    return write_silver_batch


def start_silver(
    spark: SparkSession,
    settings: Settings,
    masking_key: tuple[int, bytes],
    *,
    trigger: str | None = None,
) -> StreamingQuery:
    """Start the silver query over the bronze tables of every entity."""
    streams = [
        spark.readStream.format("delta")
        .option("maxFilesPerTrigger", settings.spark.max_files_per_trigger)
        # bronze is append-only but for erasure and lifecycle, which silver must not replay
        .option("skipChangeCommits", "true")
        .load(table_path(settings, "bronze", topic))
        .withColumn("entity", F.lit(entity))
        for entity, topic in ENTITY_TOPICS.items()
    ]
    bronze = reduce(DataFrame.unionByName, streams)
    return (
        bronze.writeStream.queryName(QUERY_NAME)
        .foreachBatch(silver_writer(settings, masking_key))
        .option("checkpointLocation", checkpoint_path(settings, QUERY_NAME))
        .trigger(**trigger_options(trigger or settings.spark.trigger))
        .start()
    )
