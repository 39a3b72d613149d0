"""``lakehouse batch backfill``: rebuild silver, gold and the warehouse from bronze into the
same tables.

The checkpoints of the silver, gold and warehouse queries are removed; the silver query
rebuilds silver from bronze.events' first version, then the streaming application runs with
``availableNow``: gold reads the change feeds of silver from a snapshot, the warehouse load
the same. Every
write is idempotent by content, not by checkpoint: silver MERGEs on natural keys (the newest
record wins) or event ids, the quarantine inserts by Kafka coordinates, gold recomputes
whole dates, the warehouse upserts with ``IS DISTINCT FROM``. So a backfill after a fix in a
transform rewrites what the fix changes and nothing else. Bronze keeps its checkpoint (its
source is Kafka, whose retention may no longer hold the first records), and so does the
ingest query, which writes silver as it appends to bronze.

It needs the lake to itself: it refuses to start while the streaming application holds the
lake's lease (stop the application, backfill, start it again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from pyspark.sql import SparkSession

from batch.lake_jobs import LakeLease
from lakehouse.registry import checkpoint_path
from lakehouse.settings import Secrets, Settings
from security.runtime import masking_key
from streaming.silver_job import start_silver

log = logging.getLogger(__name__)

REBUILT = ("silver", "gold", "warehouse")


def reset_checkpoints(
    spark: SparkSession, settings: Settings, queries: Sequence[str] = REBUILT
) -> list[str]:
    """Delete the checkpoints of ``queries``; returns those that existed."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    removed = []
    for query in queries:
        path = jvm.org.apache.hadoop.fs.Path(checkpoint_path(settings, query))
        file_system = path.getFileSystem(conf)
        if file_system.exists(path):
            file_system.delete(path, True)
            removed.append(query)
    return removed


def backfill(
    spark: SparkSession, settings: Settings, secrets: Secrets, queries: Sequence[str] = REBUILT
) -> str:
    """Reset ``queries``' checkpoints and run the application until it has drained bronze.
    Returns a one-line summary."""
    from streaming.app import run

    unknown = set(queries) - set(REBUILT)
    if unknown:
        raise ValueError(f"cannot backfill {sorted(unknown)}; choose from {REBUILT}")
    began = time.monotonic()
    with LakeLease(settings, secrets, "backfill"):
        removed = reset_checkpoints(spark, settings, queries)
        log.info("checkpoints reset: %s", ", ".join(removed) or "none existed")
        if "silver" in queries:
            rebuild = start_silver(spark, settings, masking_key(settings), trigger="availableNow")
            rebuild.awaitTermination()
    run(spark, settings, "availableNow")
    return (
        f"rebuilt {', '.join(queries)} from bronze in {time.monotonic() - began:.0f} s "
        f"(checkpoints reset: {', '.join(removed) or 'none existed'})"
    )
