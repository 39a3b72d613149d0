"""``lakehouse batch migrate-bronze``: move a lake of the per-topic bronze layout (a Delta table
per topic, ``bronze/<topic>``, read by separate bronze, silver, gold and warehouse queries) to
this release's layout (every topic in ``bronze/events``, one chained ingest query).

1. every per-topic table's rows are appended to bronze.events, each table as one Delta
   transaction of its own id, so running the command again (after a failure, say) appends
   nothing twice;
2. the old queries' checkpoints are removed: their offsets live on in bronze.events, where the
   new ingest query resumes (``streaming.ingest_job.resume_offsets``), and gold's new query
   recomputes from silver's current tables;
3. silver, gold and the warehouse stay as they are; the per-topic tables too (nothing reads
   them any more: remove them once the migrated lake is checked).

Like a backfill it needs the lake to itself: the previous release's application must be
stopped (the lease tells).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from pyspark.sql import SparkSession

from batch.backfill import reset_checkpoints
from batch.lake_jobs import LakeLease
from lakehouse.registry import table_path
from lakehouse.settings import Secrets, Settings
from streaming.bronze import BRONZE_COLUMNS
from streaming.bronze_job import (
    append_bronze,
    bronze_path,
    create_bronze_table,
    per_topic_tables,
)
from streaming.delta_io import table_exists, table_version

log = logging.getLogger(__name__)

APP_ID = "migrate-bronze"  # the Delta transaction id of each table's copy: <this>:<folder>
OLD_QUERIES = ("bronze", "silver", "gold", "warehouse")  # the per-topic layout's queries


def migrate_bronze(spark: SparkSession, settings: Settings, secrets: Secrets) -> str:
    """Migrate the lake of ``settings`` (see the module); returns a one-line summary."""
    began = time.monotonic()
    with LakeLease(settings, secrets, "migrate-bronze"):
        create_bronze_table(spark, settings)
        copied = copy_tables(spark, settings, per_topic_tables(spark, settings))
        retired = reset_checkpoints(spark, settings, OLD_QUERIES)
    rows = sum(copied.values())
    return (
        f"migrated {len(copied)} per-topic tables ({rows} rows appended) into bronze/events "
        f"in {time.monotonic() - began:.0f} s; checkpoints retired: "
        f"{', '.join(retired) or 'none existed'}; the per-topic tables are no longer read"
    )


def copy_tables(spark: SparkSession, settings: Settings, folders: Sequence[str]) -> dict[str, int]:
    """Append each per-topic table (its folder under bronze/) to bronze.events; returns the
    rows appended by folder (0 for a table copied by an earlier run)."""
    copied = {}
    for folder in folders:
        path = table_path(settings, "bronze", folder)
        if not table_exists(spark, path):  # a folder without a committed table: nothing to copy
            continue
        rows = spark.read.format("delta").load(path).select(*BRONZE_COLUMNS)
        before = table_version(spark, bronze_path(settings))
        append_bronze(rows, settings, f"{APP_ID}:{folder}", 0)
        appended = table_version(spark, bronze_path(settings)) != before
        copied[folder] = rows.count() if appended else 0
        log.info("bronze/%s: %d rows appended to bronze/events", folder, copied[folder])
    return copied
