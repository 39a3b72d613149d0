"""The bronze query: every pipeline topic into ``bronze.<topic>`` Delta tables, exactly once.

One Kafka source subscribes to all topics; a named foreachBatch function turns the batch into
bronze rows (the pure ``kafka_to_bronze``) and appends each topic's rows to its table with
Delta's idempotent-write options (``txnAppId`` = the query, ``txnVersion`` = the batch id), so
a batch replayed after a crash is skipped by every table that already has it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from lakehouse.registry import all_topics, checkpoint_path, kafka_topic, registry_topic, table_path
from lakehouse.settings import Settings
from lakehouse.spark import trigger_options
from streaming.bronze import kafka_to_bronze
from streaming.delta_io import create_in_parallel, ensure_table, txn_app_id, writing
from streaming.progress import record_rows_out

log = logging.getLogger(__name__)

QUERY_NAME = "bronze"


def pipeline_topics() -> list[str]:
    """The topics bronze ingests: every registry topic but the smoke test's."""
    return [t.name for t in all_topics() if not t.name.startswith("smoke.")]


BRONZE_SCHEMA = (
    "key STRING, value STRING, topic STRING, partition INT, offset LONG, "
    "kafka_timestamp TIMESTAMP, ingested_at TIMESTAMP, ingest_date DATE"
)


def ensure_bronze_tables(spark: SparkSession, settings: Settings) -> None:
    """Create the empty bronze table of every pipeline topic that has none yet, so that the
    silver queries reading them can start before the first record arrives."""

    def ensure(topic: str) -> None:
        path = table_path(settings, "bronze", topic)
        ensure_table(spark, path, BRONZE_SCHEMA, partition_by=("ingest_date",))

    create_in_parallel(ensure, pipeline_topics())


def bronze_writer(settings: Settings) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function: one idempotent append per topic present in the batch."""

    def write_bronze_batch(batch: DataFrame, batch_id: int) -> None:
        # One Kafka partition is one Spark partition: coalesced, each topic's append runs a
        # couple of tasks (and writes as many files) instead of one per partition of every topic.
        parallelism = batch.sparkSession.sparkContext.defaultParallelism
        rows = kafka_to_bronze(batch).coalesce(parallelism).persist()
        try:
            topics = [r.topic for r in rows.select("topic").distinct().collect()]
            for topic in sorted(topics):
                name = registry_topic(settings, topic)
                path = table_path(settings, "bronze", name)
                with writing(path):
                    (
                        rows.where(F.col("topic") == topic)
                        .write.format("delta")
                        .mode("append")
                        .partitionBy("ingest_date")
                        .option("txnAppId", txn_app_id(batch, name))
                        .option("txnVersion", batch_id)
                        .save(path)
                    )
            record_rows_out(batch, batch_id, rows.count())
            log.info("bronze batch %d: %s", batch_id, ", ".join(sorted(topics)) or "empty")
        finally:
            rows.unpersist()

    return write_bronze_batch


def start_bronze(
    spark: SparkSession,
    settings: Settings,
    *,
    topics: Sequence[str] | None = None,
    trigger: str | None = None,
    query_name: str = QUERY_NAME,
) -> StreamingQuery:
    """Start the bronze query (not waiting for it)."""
    source = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka.bootstrap)
        .option(
            "subscribe", ",".join(kafka_topic(settings, t) for t in topics or pipeline_topics())
        )
        .option("startingOffsets", "earliest")
        .option("failOnDataLoss", "true")
        .option("maxOffsetsPerTrigger", settings.spark.max_offsets_per_trigger)
        .load()
    )
    return (
        source.writeStream.queryName(query_name)
        .foreachBatch(bronze_writer(settings))
        .option("checkpointLocation", checkpoint_path(settings, query_name))
        .trigger(**trigger_options(trigger or settings.spark.trigger))
        .start()
    )
