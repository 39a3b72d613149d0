"""Silver's writes: a micro-batch's bronze rows, entity by entity, through the pure
transforms (parse, type by contract, split, mask); the quarantined rows of every entity
appended to ``silver.quarantine`` at once, and each entity's good rows MERGEd into
``silver.<entity>``: on the natural key for entities that change (the newest ``produced_at``
wins), on ``event_id`` (insert only) for the others. Every write carries Delta's idempotent
transaction id, so a batch replayed after a crash changes nothing.

``silver_batch`` and ``write_silver`` serve the ingest query on the same micro-batch it appends
to bronze (nothing re-reads bronze), and the silver query, which rebuilds silver from
bronze.events (a backfill). No watermark and no streaming state: a record read hours after
newer ones (a backlog read in proportion across topics) is as welcome as any, and duplicates
(a producer re-sending after a restart, the same event id) are settled by the MERGEs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import reduce

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lakehouse.registry import (
    BCB_TOPIC,
    OLIST_ENTITIES,
    WEATHER_TOPIC,
    kafka_topic,
    table_path,
)
from lakehouse.settings import Settings
from streaming.bronze_job import BRONZE_SCHEMA
from streaming.contracts import CONTRACTS, Contract
from streaming.delta_io import (
    KeptFrames,
    create_in_parallel,
    ensure_table,
    idempotent_merge,
    run_side_by_side,
    table_version,
    writing,
)
from streaming.silver import (
    COORDINATES,
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
            return empty_silver(spark, contract.entity, masking_key)

        path = table_path(settings, "silver", contract.entity)
        ensure_table(spark, path, schema, change_feed=True)

    create_in_parallel(ensure_entity, [c for e, c in CONTRACTS.items() if not only or e in only])


def empty_silver(spark: SparkSession, table: str, masking_key: tuple[int, bytes]) -> DataFrame:
    """No rows, with the columns of silver ``table`` (an entity, or the quarantine)."""
    if table == QUARANTINE:
        return spark.createDataFrame([], QUARANTINE_SCHEMA)
    contract = CONTRACTS[table]
    typed = type_payload(parse_envelopes(spark.createDataFrame([], BRONZE_SCHEMA)), contract)
    return prepare(valid_rows(typed), contract, masking_key)


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
    spark: SparkSession | None = None,
) -> int:
    """MERGE one entity's good rows into its silver table: on the natural key for entities that
    change (the newest ``produced_at`` wins; the same event again is left alone), on
    ``event_id`` (insert only) for the others.
    Idempotent per (``app_id``, ``batch_id``) when given (a streaming batch); ``spark``: the
    session ``table`` was opened with."""
    keys = contract.natural_key if contract.changes else ("event_id",)
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    merge = table.alias("t").merge(good.alias("s"), condition)
    if contract.changes:
        merge = merge.whenMatchedUpdateAll(condition=_newer_or_remade(good.columns))
    return idempotent_merge(merge.whenNotMatchedInsertAll(), app_id, batch_id, spark)


def _newer_or_remade(columns: Sequence[str]) -> str:
    """When a changing entity's matched row is replaced: by a newer record (another event id,
    ``produced_at`` not older), or by the same event made again into other values (a backfill
    after the masking key was rotated or a transform was fixed). A re-sent record (the same
    content, so the same event id, at other Kafka coordinates and send time) is not an update:
    no change-feed rows for gold and the warehouse."""
    compared = [c for c in columns if c not in ("event_id", "produced_at", *COORDINATES)]
    differs = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in compared) or "false"
    return (
        "(s.event_id <> t.event_id AND s.produced_at >= t.produced_at)"
        f" OR (s.event_id = t.event_id AND ({differs}))"
    )


def entity_of_topic(settings: Settings) -> Column:
    """The silver entity of a bronze row, by its Kafka topic (null for dead-letter topics,
    which stay in bronze)."""
    pairs = [
        F.lit(item)
        for entity, topic in ENTITY_TOPICS.items()
        for item in (kafka_topic(settings, topic), entity)
    ]
    return F.create_map(*pairs)[F.col("topic")]


def good_and_bad(typed: dict[str, DataFrame]) -> dict[str, tuple[int, int]]:
    """Per entity, (rows without errors, rows with) of its typed frame: one Spark job for all
    (which fills their caches when they are persisted)."""
    flags = reduce(
        DataFrame.unionByName,
        (
            frame.select(F.lit(entity).alias("entity"), (F.size("_errors") > 0).alias("bad"))
            for entity, frame in typed.items()
        ),
    )
    counts = {
        (r.entity, r.bad): r["count"] for r in flags.groupBy("entity", "bad").count().collect()
    }
    return {e: (int(counts.get((e, False), 0)), int(counts.get((e, True), 0))) for e in typed}


@dataclass
class SilverBatch:
    """A micro-batch's rows as silver writes them, kept while the batch is written: per entity
    the good rows (typed, masked, one per merge key) and the count of rejects; the rejects of
    every entity as quarantine rows (None when there are none)."""

    good: dict[str, DataFrame] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    quarantined: DataFrame | None = None

    def frames(self) -> dict[str, DataFrame]:
        """Every frame silver writes, by table: the entities' and ``quarantine``."""
        both = dict(self.good)
        if self.quarantined is not None:
            both[QUARANTINE] = self.quarantined
        return both


@contextmanager
def silver_batch(
    rows: DataFrame, masking_key: tuple[int, bytes], entities: Sequence[str]
) -> Iterator[SilverBatch]:
    """The bronze rows of ``entities`` (``rows`` has an ``entity`` column) parsed and typed by
    their contracts, split into good rows (masked) and quarantine rows, kept in memory while
    the block writes them (each computed once, by the first job that needs it) and released
    after."""
    kept = KeptFrames()

    def keep(frame: DataFrame) -> DataFrame:
        return kept.checkpoint(frame, eager=False)

    try:
        batch = SilverBatch()
        typed = {}
        for entity in sorted(entities):
            envelopes = parse_envelopes(rows.where(F.col("entity") == entity))
            typed[entity] = keep(type_payload(envelopes, CONTRACTS[entity]))
        counts = good_and_bad(typed) if typed else {}  # (the job that computes them all)
        for entity, frame in typed.items():
            good, bad = counts[entity]
            if good:
                contract = CONTRACTS[entity]
                batch.good[entity] = keep(prepare(valid_rows(frame), contract, masking_key))
            if bad:
                batch.rejected[entity] = bad
        if batch.rejected:
            batch.quarantined = keep(
                reduce(
                    DataFrame.unionByName,
                    (quarantined_rows(typed[e], f"silver.{e}") for e in sorted(batch.rejected)),
                )
            )
        yield batch
    finally:
        kept.release()


Write = Callable[[SparkSession], tuple[int, int]]  # session -> (rows written, version reached)


def silver_writes(
    batch: SilverBatch, settings: Settings, query_id: str, batch_id: int
) -> dict[str, Write]:
    """Silver's writes of a micro-batch, by table, to run in any order or side by side: the
    rejects appended to silver.quarantine, the good rows MERGEd into their tables, each write
    idempotent per (``query_id``, table, ``batch_id``). A table with nothing to write gets
    none."""

    def quarantine(spark: SparkSession) -> tuple[int, int]:
        assert batch.quarantined is not None
        path = table_path(settings, "silver", QUARANTINE)
        with writing(path):
            # insert-only on the record's coordinates: a backfill (a new checkpoint replaying
            # bronze) adds no second copy; Delta commits it as an append
            merge = (
                DeltaTable.forPath(spark, path)
                .alias("t")
                .merge(batch.quarantined.alias("s"), QUARANTINE_MATCH)
                .whenNotMatchedInsertAll()
            )
            idempotent_merge(merge, f"{query_id}:{QUARANTINE}", batch_id, spark)
            return sum(batch.rejected.values()), table_version(spark, path)

    def entity_merge(entity: str) -> Write:
        def run(spark: SparkSession) -> tuple[int, int]:
            path = table_path(settings, "silver", entity)
            with writing(path):
                table = DeltaTable.forPath(spark, path)
                rows = merge_entity(
                    table, batch.good[entity], CONTRACTS[entity], f"{query_id}:{entity}",
                    batch_id, spark,
                )  # fmt: skip
                return rows, table_version(spark, path)

        return run

    tasks: dict[str, Write] = {entity: entity_merge(entity) for entity in batch.good}
    if batch.quarantined is not None:
        tasks[QUARANTINE] = quarantine
    return tasks


def write_silver(
    batch: SilverBatch, settings: Settings, query_id: str, batch_id: int
) -> tuple[dict[str, int], dict[str, int]]:
    """``silver_writes``, ``spark.write_threads`` tables at a time. Returns the rows written
    and the version reached, per table written."""
    tasks = silver_writes(batch, settings, query_id, batch_id)
    if not tasks:
        return {}, {}
    spark = next(iter(batch.frames().values())).sparkSession
    done = run_side_by_side(spark, tasks, settings.spark.write_threads)
    return {t: rows for t, (rows, _) in done.items()}, {t: v for t, (_, v) in done.items()}
