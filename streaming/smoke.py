"""The smoke pipeline: one Kafka topic streamed into a bronze-shaped Delta table on S3.

It proves the runtime end to end (Kafka source, Delta sink on S3A, checkpoint) and is what
``lakehouse demo`` runs until the full application exists. Runs under ``spark-submit`` too::

    spark-submit --properties-file spark-defaults.conf streaming/smoke.py
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lakehouse.registry import SMOKE_TOPIC, checkpoint_path, kafka_topic, table_path
from lakehouse.settings import Settings
from lakehouse.spark import trigger_options
from security.runtime import audited_pipeline
from streaming.bronze import kafka_to_bronze
from streaming.entry import start_job
from streaming.kafka_source import kafka_stream

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

QUERY_NAME = "smoke_bronze"


def smoke_table(settings: Settings) -> str:
    return table_path(settings, "smoke", SMOKE_TOPIC.name)


def stream_topic_to_delta(
    spark: SparkSession,
    settings: Settings,
    *,
    topic: str,
    table: str,
    query_name: str,
    trigger: str | None = None,
) -> int:
    """Stream ``topic`` into the Delta table at ``table`` (bronze shape) with the query's own
    checkpoint. With ``availableNow`` it drains what is in the topic, stops, and returns the
    number of input rows this run processed (0 when the checkpoint is already at the end)."""
    source = kafka_stream(spark, settings, [kafka_topic(settings, topic)])
    query = (
        kafka_to_bronze(source)
        .writeStream.format("delta")
        .queryName(query_name)
        .outputMode("append")
        .partitionBy("ingest_date")
        .option("checkpointLocation", checkpoint_path(settings, query_name))
        .trigger(**trigger_options(trigger or settings.spark.trigger))
        .start(table)
    )
    query.awaitTermination()
    if query.exception() is not None:  # pragma: no cover - awaitTermination raises first
        raise RuntimeError(str(query.exception()))
    return sum(int(p.get("numInputRows", 0)) for p in query.recentProgress)


def run_smoke_stream(spark: SparkSession, settings: Settings, trigger: str | None = None) -> int:
    """Stream the smoke topic into the smoke table; returns the rows this run processed."""
    return stream_topic_to_delta(
        spark,
        settings,
        topic=SMOKE_TOPIC.name,
        table=smoke_table(settings),
        query_name=QUERY_NAME,
        trigger=trigger,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args, settings, spark = start_job(argv, __doc__.splitlines()[0], QUERY_NAME)
    with audited_pipeline(settings, QUERY_NAME):
        rows = run_smoke_stream(spark, settings, args.trigger)
    total = spark.read.format("delta").load(smoke_table(settings)).count()
    print(f"smoke stream: {rows} rows this run, {total} rows in {smoke_table(settings)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
