"""Bronze: every pipeline topic's records, dead letters included, in ONE append-only Delta
table, ``bronze.events``, partitioned by ingest date.

One table means one Delta commit per micro-batch, whatever the number of topics (a table per
topic cost a commit, and its snapshot jobs, per topic present in the batch). A topic's rows
are read by filtering on ``topic`` (``read_bronze``; ``lakehouse query`` names them
``bronze.<topic>``), and maintenance Z-orders the table by topic so such reads skip files.
The ingest query (``streaming/ingest_job.py``) appends here; nothing else does.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.errors import LakehouseError
from lakehouse.registry import (
    BRONZE_EVENTS,
    checkpoint_path,
    kafka_topic,
    pipeline_topics,
    table_path,
)
from lakehouse.settings import Settings
from streaming.delta_io import ensure_table, listing, path_exists, table_exists, writing

log = logging.getLogger(__name__)

BRONZE_SCHEMA = (
    "key STRING, value STRING, topic STRING, partition INT, offset LONG, "
    "kafka_timestamp TIMESTAMP, ingested_at TIMESTAMP, ingest_date DATE"
)
PARTITION_BY = ("ingest_date",)
# File statistics only for the coordinates: min/max of the raw key and value (long strings)
# cost time on every write and serve no read.
STATS_COLUMNS = "topic,partition,offset,kafka_timestamp,ingested_at"


class LakeLayoutError(LakehouseError):
    """The lake was written by a release with another layout than this one reads."""


def bronze_path(settings: Settings) -> str:
    """Where bronze.events lives."""
    return table_path(settings, "bronze", BRONZE_EVENTS)


MIGRATE_COMMAND = "lakehouse batch migrate-bronze"


def per_topic_tables(spark: SparkSession, settings: Settings) -> list[str]:
    """The folders of bronze/ holding a pipeline topic's table of the per-topic layout of
    earlier releases (one listing)."""
    found = listing(spark, table_path(settings, "bronze", ""))
    folders = {name for name, is_folder in found.items() if is_folder}
    return [t.replace(".", "_") for t in pipeline_topics() if t.replace(".", "_") in folders]


def ensure_bronze_table(spark: SparkSession, settings: Settings) -> None:
    """Create bronze.events empty if it does not exist; refuse a lake of the per-topic layout,
    whose queries' checkpoints this release cannot continue, naming the command that
    migrates it."""
    if not table_exists(spark, bronze_path(settings)):
        old = per_topic_tables(spark, settings)
        if old or path_exists(spark, checkpoint_path(settings, "bronze")):
            raise LakeLayoutError(
                f"the lake at {settings.lake_root} has the per-topic bronze layout "
                f"(bronze/{old[0] if old else '<topic>'}, _checkpoints/bronze) of an earlier "
                "release: this one keeps every topic in bronze/events. Stop the previous "
                f"release's application and run `{MIGRATE_COMMAND}` (it copies the topics' "
                "rows into bronze/events, retires the old queries' checkpoints and keeps "
                "silver, gold and the warehouse), then start this one"
            )
    create_bronze_table(spark, settings)


def create_bronze_table(spark: SparkSession, settings: Settings) -> None:
    """bronze.events, created empty if it does not exist."""
    ensure_table(
        spark,
        bronze_path(settings),
        BRONZE_SCHEMA,
        partition_by=PARTITION_BY,
        properties={"delta.dataSkippingStatsColumns": STATS_COLUMNS},
    )


def last_offsets(spark: SparkSession, settings: Settings) -> dict[tuple[str, int], int]:
    """The last offset bronze.events holds of each Kafka partition, by (topic, partition)."""
    last = read_bronze(spark, settings).groupBy("topic", "partition").agg(F.max("offset"))
    return {(r[0], int(r[1])): int(r[2]) for r in last.collect()}


def append_bronze(rows: DataFrame, settings: Settings, app_id: str, batch_id: int) -> None:
    """Append bronze rows as transaction ``batch_id`` of writer ``app_id``: Delta skips a
    version it has already committed, so a micro-batch replayed after a crash adds nothing."""
    path = bronze_path(settings)
    with writing(path):
        (
            rows.select(*(c.split()[0] for c in BRONZE_SCHEMA.split(", ")))
            .write.format("delta")
            .mode("append")
            .partitionBy(*PARTITION_BY)
            .option("txnAppId", app_id)
            .option("txnVersion", batch_id)
            .save(path)
        )


def read_bronze(spark: SparkSession, settings: Settings, topic: str | None = None) -> DataFrame:
    """bronze.events, or only registry topic ``topic``'s rows of it."""
    events = spark.read.format("delta").load(bronze_path(settings))
    return events if topic is None else events.where(F.col("topic") == kafka_topic(settings, topic))
