"""The ingest query: the hot path, ONE chained micro-batch from Kafka to silver.

One Kafka source subscribes to every pipeline topic. Its named foreachBatch function turns
the batch into bronze rows (the pure ``kafka_to_bronze``), reads them from Kafka once into
memory (``materialized``: Delta's MERGE would read its source again) and then:

1. appends them all to bronze.events: one Delta commit, whatever the topics;
2. hands the same cached rows to silver (``write_silver``): parsed and typed by each entity's
   contract, masked, quarantined or MERGEd, without re-reading bronze.

Every write carries Delta's idempotent transaction id (``txnAppId`` = the query id and the
table, ``txnVersion`` = the batch id), so a batch replayed after a kill between any two writes
skips those already committed and makes the others: the same result as one uninterrupted run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from lakehouse.registry import BRONZE_EVENTS, checkpoint_path, kafka_topic, pipeline_topics
from lakehouse.settings import Settings
from lakehouse.spark import trigger_options
from streaming.bronze import kafka_to_bronze
from streaming.bronze_job import append_bronze
from streaming.delta_io import materialized, txn_app_id
from streaming.progress import record_rows_out
from streaming.silver_job import entity_of_topic, write_silver

log = logging.getLogger(__name__)

QUERY_NAME = "ingest"


def ingest_writer(
    settings: Settings, masking_key: tuple[int, bytes]
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
        with materialized(bronze) as rows:
            per_entity = {r.entity: r["count"] for r in rows.groupBy("entity").count().collect()}
            records = sum(per_entity.values())
            append_bronze(rows, settings, txn_app_id(batch, f"bronze.{BRONZE_EVENTS}"), batch_id)
            entities = [e for e in per_entity if e is not None]
            written = write_silver(rows, settings, masking_key, batch_id, entities)
            record_rows_out(batch, batch_id, records + sum(written.values()))
            log.info(
                "ingest batch %d: %d records to bronze; silver %s",
                batch_id,
                records,
                ", ".join(f"{e} {n}" for e, n in sorted(written.items())) or "nothing",
            )

    return write_ingest_batch


def start_ingest(
    spark: SparkSession,
    settings: Settings,
    masking_key: tuple[int, bytes],
    *,
    topics: Sequence[str] | None = None,
    trigger: str | None = None,
) -> StreamingQuery:
    """Start the ingest query over ``topics`` (default: every pipeline topic), not waiting
    for it."""
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
        source.writeStream.queryName(QUERY_NAME)
        .foreachBatch(ingest_writer(settings, masking_key))
        .option("checkpointLocation", checkpoint_path(settings, QUERY_NAME))
        .trigger(**trigger_options(trigger or settings.spark.trigger))
        .start()
    )
