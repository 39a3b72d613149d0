"""Bronze transform: Kafka records as they arrived, with their coordinates (pure, no I/O)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

BRONZE_COLUMNS = (
    "key", "value", "topic", "partition", "offset", "kafka_timestamp", "ingested_at", "ingest_date"
)  # fmt: skip


def kafka_to_bronze(records: DataFrame, ingested_at: Column | None = None) -> DataFrame:
    """Kafka source rows -> bronze rows: raw key and value as UTF-8 strings, the record's
    topic/partition/offset and timestamp, and when it was ingested (``ingested_at``, default
    now) with its date as the partition column."""
    return (
        records.select(
            F.col("key").cast("string").alias("key"),
            F.col("value").cast("string").alias("value"),
            "topic",
            "partition",
            "offset",
            F.col("timestamp").alias("kafka_timestamp"),
        )
        .withColumn(
            "ingested_at", ingested_at if ingested_at is not None else F.current_timestamp()
        )
        .withColumn("ingest_date", F.to_date("ingested_at"))
    )
