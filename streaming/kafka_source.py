"""The Kafka source every streaming query reads pipeline topics with: one place for its
options (``failOnDataLoss``, the batch bound, the fetch wait)."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession

from lakehouse.settings import Settings


def kafka_stream(
    spark: SparkSession,
    settings: Settings,
    topics: Sequence[str],
    max_offsets: int | None = None,
    starting: str = "earliest",
) -> DataFrame:
    """A stream of the Kafka records of ``topics`` (full names), from ``starting`` (Spark's
    ``startingOffsets``: a new checkpoint's first offsets), at most ``max_offsets`` (default
    ``spark.max_offsets_per_trigger``) per micro-batch; a record lost to retention before it
    was read fails the query rather than being skipped."""
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka.bootstrap)
        .option("kafka.fetch.max.wait.ms", settings.kafka.source_fetch_max_wait_ms)
        .option("subscribe", ",".join(topics))
        .option("startingOffsets", starting)
        .option("failOnDataLoss", "true")
        .option("maxOffsetsPerTrigger", max_offsets or settings.spark.max_offsets_per_trigger)
        .load()
    )
