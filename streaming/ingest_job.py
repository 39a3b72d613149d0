"""The ingest query: the hot path, ONE chained micro-batch from Kafka to the warehouse.

One Kafka source subscribes to every pipeline topic. Its named foreachBatch function turns
the batch into bronze rows (the pure ``kafka_to_bronze``), reads them from Kafka once into
memory (``materialized``: Delta's MERGE would read its source again) and then:

1. parses and types them once by each entity's contract, masks them and splits off the
   rejects (``silver_batch``), kept in memory;
2. loads those rows into the warehouse (``load_tables``): one transaction with its
   etl.batch_log row, before any Delta commit, so the warehouse is fresh sooner;
3. appends every record to bronze.events (one Delta commit, whatever the topics) beside
   silver's writes (rejects to the quarantine, good rows MERGEd), and records the silver
   versions reached for the reconciliation.

Every Delta write carries Delta's idempotent transaction id (``txnAppId`` = the query id and
the table, ``txnVersion`` = the batch id) and the warehouse load claims (query, batch) in
etl.batch_log, so a batch replayed after a kill between any two writes skips those already
committed and makes the others: the same result as one uninterrupted run. Nothing re-reads
what the batch wrote.

The silver query runs the same chain over bronze.events instead of Kafka: a backfill.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from lakehouse.kafka import topic_partitions
from lakehouse.registry import (
    BRONZE_EVENTS,
    checkpoint_path,
    kafka_topic,
    pipeline_topics,
)
from lakehouse.settings import Secrets, Settings
from lakehouse.spark import trigger_options
from streaming.bronze import kafka_to_bronze
from streaming.bronze_job import append_bronze, bronze_path, last_offsets
from streaming.delta_io import (
    listing,
    materialized,
    run_side_by_side,
    streaming_query_id,
    table_version,
)
from streaming.kafka_source import kafka_stream
from streaming.progress import record_rows_out
from streaming.silver_job import entity_of_topic, silver_batch, silver_writes
from streaming.warehouse_job import (
    RECONCILED,
    SILVER_CATCHING_UP,
    load_tables,
    record_silver_versions,
    warehouse_tables,
)

log = logging.getLogger(__name__)


@contextmanager
def timed(timings: dict[str, float], part: str) -> Iterator[None]:
    """Add the seconds the block takes to ``timings[part]``."""
    began = time.perf_counter()
    try:
        yield
    finally:
        timings[part] = timings.get(part, 0.0) + time.perf_counter() - began


QUERY_NAME = "ingest"
SILVER_QUERY = "silver"  # silver and the warehouse rebuilt from bronze.events (a backfill)


def write_chained(
    rows: DataFrame,
    settings: Settings,
    secrets: Secrets,
    masking_key: tuple[int, bytes],
    query: tuple[str, str, int],
    entities: Sequence[str],
    timings: dict[str, float] | None = None,
    also: Mapping[str, Callable[[SparkSession], Any]] | None = None,
) -> dict[str, int]:
    """Silver and the warehouse from one micro-batch's bronze rows (``rows``, with an
    ``entity`` column), parsed once: the warehouse load first (what users watch: its rows
    arrive without waiting for any Delta commit), then the Delta writes side by side
    (silver's, and ``also``: bronze's append), then the silver versions they reached,
    recorded for the reconciliation. ``query`` = (name, id, batch id) makes each write
    idempotent. Returns the rows written per silver table and ``warehouse`` (rows the load
    touched); ``timings`` gets the seconds each part took. A batch without records loads
    nothing."""
    _name, query_id, batch_id = query
    took = timings if timings is not None else {}
    entered = time.perf_counter()
    threads = settings.spark.write_threads
    with silver_batch(rows, masking_key, entities) as silver:
        took["typing"] = time.perf_counter() - entered  # typed, split and counted on entry
        frames = silver.frames()
        writes: dict[str, Callable[[SparkSession], Any]] = {
            **(also or {}),
            **silver_writes(silver, settings, query_id, batch_id),
        }
        loaded = None
        with SILVER_CATCHING_UP:
            if frames:
                with timed(took, "warehouse"):
                    tables = warehouse_tables(frames, rows.sparkSession, masking_key, threads)
                    loaded = load_tables(tables, settings, secrets, query=query)
            with timed(took, "writes"):
                done = run_side_by_side(rows.sparkSession, writes, threads)
            for name in also or {}:
                done.pop(name)
            versions = {t: version for t, (_count, version) in done.items() if t in RECONCILED}
            record_silver_versions(settings, secrets, versions, query)
    written = {table: count for table, (count, _version) in done.items()}
    if loaded is not None:
        written["warehouse"] = loaded.written
    return written


def ingest_writer(
    settings: Settings, secrets: Secrets, masking_key: tuple[int, bytes]
) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function of the ingest query."""

    def write_ingest_batch(batch: DataFrame, batch_id: int) -> None:
        # One Kafka partition is one Spark partition: coalesced, the batch is written as a
        # couple of files by a couple of tasks instead of one per partition of every topic.
        parallelism = batch.sparkSession.sparkContext.defaultParallelism
        bronze = (
            kafka_to_bronze(batch)
            .withColumn("entity", entity_of_topic(settings))
            .coalesce(parallelism)
        )
        query_id = streaming_query_id(batch)
        took: dict[str, float] = {}
        began = time.perf_counter()
        with materialized(bronze, eager=False) as rows:  # kept by the count below
            per_entity = {r.entity: r["count"] for r in rows.groupBy("entity").count().collect()}
            records = sum(per_entity.values())
            took["read"] = time.perf_counter() - began
            app_id = f"{query_id}:bronze.{BRONZE_EVENTS}"

            def bronze_append(spark: SparkSession) -> None:
                append_bronze(rows, settings, app_id, batch_id)

            entities = [e for e in per_entity if e is not None]
            query = (QUERY_NAME, query_id, batch_id)
            written = write_chained(
                rows, settings, secrets, masking_key, query, entities, took,
                also={"bronze": bronze_append},
            )  # fmt: skip
        record_rows_out(batch, batch_id, records + sum(written.values()))
        log.info(
            "ingest batch %d: %d records to bronze; %s; %.1f s (%s)",
            batch_id,
            records,
            ", ".join(f"{e} {n}" for e, n in sorted(written.items())) or "nothing else",
            time.perf_counter() - began,
            ", ".join(f"{k} {v:.1f}" for k, v in took.items()),
        )

    return write_ingest_batch


def replay_writer(
    settings: Settings, secrets: Secrets, masking_key: tuple[int, bytes]
) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function of the silver query (bronze.events -> silver and the
    warehouse)."""

    def write_replayed_batch(batch: DataFrame, batch_id: int) -> None:
        query = (SILVER_QUERY, streaming_query_id(batch), batch_id)
        with materialized(batch.withColumn("entity", entity_of_topic(settings))) as rows:
            entities = [r.entity for r in rows.select("entity").distinct().collect() if r.entity]
            written = write_chained(rows, settings, secrets, masking_key, query, entities)
        record_rows_out(batch, batch_id, sum(written.values()))
        log.info(
            "silver batch %d: %s",
            batch_id,
            ", ".join(f"{e} {n}" for e, n in sorted(written.items())) or "nothing to write",
        )

    return write_replayed_batch


def resume_offsets(spark: SparkSession, settings: Settings, topics: Sequence[str]) -> str:
    """Where the ingest query starts reading ``topics`` when its checkpoint has no offsets
    yet: the earliest records, unless bronze.events already holds some of them (a lake
    migrated from the per-topic layout, a checkpoint lost): then each partition after the
    last offset bronze has of it, so no record is appended twice. (Spark ignores this once
    the checkpoint has offsets.)"""
    checkpoint = checkpoint_path(settings, QUERY_NAME)
    if any(name.isdigit() for name in listing(spark, f"{checkpoint}/offsets")):
        return "earliest"  # not used: the checkpoint's offsets decide
    if table_version(spark, bronze_path(settings)) == 0:
        return "earliest"  # bronze as created, nothing appended yet (no Spark job to find out)
    last = last_offsets(spark, settings)
    if not any(topic in topics for topic, _partition in last):
        return "earliest"
    starting = {
        topic: {str(p): last[(topic, p)] + 1 if (topic, p) in last else -2 for p in partitions}
        for topic, partitions in topic_partitions(settings, topics).items()
    }
    log.info("ingest starts after the records bronze.events holds: %s", json.dumps(starting))
    return json.dumps(starting)


def start_ingest(
    spark: SparkSession,
    settings: Settings,
    secrets: Secrets,
    masking_key: tuple[int, bytes],
    *,
    topics: Sequence[str] | None = None,
    trigger: str | None = None,
) -> StreamingQuery:
    """Start the ingest query over ``topics`` (default: every pipeline topic), not waiting
    for it."""
    names = [kafka_topic(settings, t) for t in topics or pipeline_topics()]
    source = kafka_stream(spark, settings, names, starting=resume_offsets(spark, settings, names))
    return (
        source.writeStream.queryName(QUERY_NAME)
        .foreachBatch(ingest_writer(settings, secrets, masking_key))
        .option("checkpointLocation", checkpoint_path(settings, QUERY_NAME))
        .trigger(**trigger_options(trigger or settings.spark.trigger))
        .start()
    )


def start_silver(
    spark: SparkSession,
    settings: Settings,
    secrets: Secrets,
    masking_key: tuple[int, bytes],
    *,
    trigger: str | None = None,
) -> StreamingQuery:
    """Start the silver query: silver and the warehouse (re)built from bronze.events, not from
    Kafka, by the same chained writes as the ingest query. It serves a backfill (silver rebuilt
    after a fix in a transform) and runs with the application stopped."""
    bronze = (
        spark.readStream.format("delta")
        .option("maxFilesPerTrigger", settings.spark.max_files_per_trigger)
        # bronze is append-only but for erasure and lifecycle, which silver must not replay
        .option("skipChangeCommits", "true")
        .load(bronze_path(settings))
    )
    return (
        bronze.writeStream.queryName(SILVER_QUERY)
        .foreachBatch(replay_writer(settings, secrets, masking_key))
        .option("checkpointLocation", checkpoint_path(settings, SILVER_QUERY))
        .trigger(**trigger_options(trigger or settings.spark.trigger))
        .start()
    )
