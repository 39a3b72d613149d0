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
from streaming.delta_io import ensure_table, folder_names, path_exists, table_exists, writing

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


def ensure_bronze_table(spark: SparkSession, settings: Settings) -> None:
    """Create bronze.events empty if it does not exist; refuse a lake of the per-topic layout,
    whose queries' checkpoints this release cannot continue."""
    path = bronze_path(settings)
    if not table_exists(spark, path):
        # one listing of bronze/ rather than a request per topic of the old layout
        folders = set(folder_names(spark, table_path(settings, "bronze", "")))
        old = [t for t in pipeline_topics() if t.replace(".", "_") in folders]
        if old or path_exists(spark, checkpoint_path(settings, "bronze")):
            raise LakeLayoutError(
                f"the lake at {settings.lake_root} has the per-topic bronze layout "
                f"(bronze/{old[0].replace('.', '_') if old else '<topic>'}, _checkpoints/bronze): "
                "this release keeps every topic in bronze/events and cannot continue those "
                "queries. Start it on a new lake (another LAKEHOUSE_NAMESPACE or bucket) and "
                "replay the sources, or keep running the previous release on this one"
            )
    ensure_table(
        spark,
        path,
        BRONZE_SCHEMA,
        partition_by=PARTITION_BY,
        properties={"delta.dataSkippingStatsColumns": STATS_COLUMNS},
    )


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
