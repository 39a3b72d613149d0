"""Silver's writes: a micro-batch's bronze rows, entity by entity, through the pure
transforms (parse, type by contract, split, mask); the quarantined rows of every entity
appended to ``silver.quarantine`` at once, and each entity's good rows MERGEd into
``silver.<entity>``: on the natural key for entities that change (the newest ``produced_at``
wins), on ``event_id`` (insert only) for the others. Every write carries Delta's idempotent
transaction id, so a batch replayed after a crash changes nothing.

``write_silver`` is called by the ingest query on the same micro-batch it appends to bronze
(nothing re-reads bronze), and by the silver query, which rebuilds silver from bronze.events
(a backfill). No watermark and no streaming state: a record read hours after newer ones (a
backlog read in proportion across topics) is as welcome as any, and duplicates (a producer
re-sending after a restart, the same event id) are settled by the MERGEs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import reduce

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from lakehouse.registry import (
    BCB_TOPIC,
    OLIST_ENTITIES,
    WEATHER_TOPIC,
    checkpoint_path,
    kafka_topic,
    table_path,
)
from lakehouse.settings import Settings
from lakehouse.spark import trigger_options
from streaming.bronze_job import BRONZE_SCHEMA, bronze_path
from streaming.contracts import CONTRACTS, Contract
from streaming.delta_io import (
    create_in_parallel,
    ensure_table,
    idempotent_merge,
    materialized,
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
    change (the newest ``produced_at`` wins; the same event again is left alone), on
    ``event_id`` (insert only) for the others.
    Idempotent per (``app_id``, ``batch_id``) when given (a streaming batch)."""
    keys = contract.natural_key if contract.changes else ("event_id",)
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    merge = table.alias("t").merge(good.alias("s"), condition)
    if contract.changes:
        # a re-sent record (the same content, so the same event id) is not an update: no
        # change-feed rows for gold and the warehouse (Delta still copies its file)
        merge = merge.whenMatchedUpdateAll(
            condition="s.event_id <> t.event_id AND s.produced_at >= t.produced_at"
        )
    return idempotent_merge(merge.whenNotMatchedInsertAll(), app_id, batch_id)


def entity_of_topic(settings: Settings) -> Column:
    """The silver entity of a bronze row, by its Kafka topic (null for dead-letter topics,
    which stay in bronze)."""
    pairs = [
        F.lit(item)
        for entity, topic in ENTITY_TOPICS.items()
        for item in (kafka_topic(settings, topic), entity)
    ]
    return F.create_map(*pairs).getItem(F.col("topic"))


def _good_and_bad(typed: DataFrame) -> tuple[int, int]:
    """(rows without errors, rows with) of a typed frame, in one Spark job."""
    counts = dict(
        typed.groupBy((F.size("_errors") > 0).alias("bad")).count().collect()  # type: ignore[arg-type]
    )
    return int(counts.get(False, 0)), int(counts.get(True, 0))


def write_silver(
    rows: DataFrame,
    settings: Settings,
    masking_key: tuple[int, bytes],
    batch_id: int,
    entities: Sequence[str],
) -> dict[str, int]:
    """Silver's part of a micro-batch, called from a foreachBatch function: the bronze rows of
    ``entities`` (``rows`` has an ``entity`` column) parsed and typed by their contracts; the
    rejects appended to silver.quarantine, the good rows masked and MERGEd into their tables,
    each write idempotent per (query, ``batch_id``). A table with nothing to write is left
    alone. Returns the rows written per table."""
    spark = rows.sparkSession
    typed: dict[str, DataFrame] = {}
    try:
        for entity in sorted(entities):
            envelopes = parse_envelopes(rows.where(F.col("entity") == entity))
            typed[entity] = type_payload(envelopes, CONTRACTS[entity]).persist()
        counts = {entity: _good_and_bad(frame) for entity, frame in typed.items()}
        written: dict[str, int] = {}
        rejected = [entity for entity, (_good, bad) in counts.items() if bad]
        if rejected:
            quarantined = reduce(
                DataFrame.unionByName,
                (quarantined_rows(typed[e], f"silver.{e}") for e in rejected),
            )
            quarantine_path = table_path(settings, "silver", QUARANTINE)
            with writing(quarantine_path):
                # insert-only on the record's coordinates: a backfill (a new checkpoint
                # replaying bronze) adds no second copy; Delta commits it as an append
                merge = (
                    DeltaTable.forPath(spark, quarantine_path)
                    .alias("t")
                    .merge(quarantined.alias("s"), QUARANTINE_MATCH)
                    .whenNotMatchedInsertAll()
                )
                idempotent_merge(merge, txn_app_id(rows, QUARANTINE), batch_id)
            written[QUARANTINE] = sum(counts[e][1] for e in rejected)
        for entity, frame in typed.items():
            if not counts[entity][0]:
                continue
            contract = CONTRACTS[entity]
            good = prepare(valid_rows(frame), contract, masking_key)
            path = table_path(settings, "silver", entity)
            with writing(path):
                written[entity] = merge_entity(
                    DeltaTable.forPath(spark, path),
                    good,
                    contract,
                    txn_app_id(rows, entity),
                    batch_id,
                )
        return written
    finally:
        for frame in typed.values():
            frame.unpersist()


def silver_writer(
    settings: Settings, masking_key: tuple[int, bytes]
) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function of the silver query (bronze.events -> silver)."""

    def write_silver_batch(batch: DataFrame, batch_id: int) -> None:
        with materialized(batch.withColumn("entity", entity_of_topic(settings))) as rows:
            entities = [r.entity for r in rows.select("entity").distinct().collect() if r.entity]
            written = write_silver(rows, settings, masking_key, batch_id, entities)
            record_rows_out(batch, batch_id, sum(written.values()))
            log.info(
                "silver batch %d: %s",
                batch_id,
                ", ".join(f"{e} {n}" for e, n in written.items()) or "nothing to write",
            )

    return write_silver_batch


def start_silver(
    spark: SparkSession,
    settings: Settings,
    masking_key: tuple[int, bytes],
    *,
    trigger: str | None = None,
) -> StreamingQuery:
    """Start the silver query: silver (re)built from bronze.events, not from Kafka. The
    application's ingest query writes silver from the same micro-batch as bronze; this one
    serves a backfill (silver rebuilt after a fix in a transform) and runs with the
    application stopped."""
    bronze = (
        spark.readStream.format("delta")
        .option("maxFilesPerTrigger", settings.spark.max_files_per_trigger)
        # bronze is append-only but for erasure and lifecycle, which silver must not replay
        .option("skipChangeCommits", "true")
        .load(bronze_path(settings))
    )
    return (
        bronze.writeStream.queryName(QUERY_NAME)
        .foreachBatch(silver_writer(settings, masking_key))
        .option("checkpointLocation", checkpoint_path(settings, QUERY_NAME))
        .trigger(**trigger_options(trigger or settings.spark.trigger))
        .start()
    )
