"""``lakehouse batch backfill``: rebuild silver, gold and the warehouse from bronze into the
same tables.

The checkpoints of the silver and gold queries are removed; the silver query runs the ingest
query's chain (silver, then the warehouse) over bronze.events from its first version, then the
streaming application runs with ``availableNow``: gold reads the change feeds of silver from a
snapshot. Backfilling the warehouse alone loads it from silver's current tables. Every write is
idempotent by content, not by checkpoint: silver MERGEs on natural keys (the newest record
wins) or event ids, the quarantine inserts by Kafka coordinates, gold recomputes whole dates,
the warehouse upserts with ``IS DISTINCT FROM`` and never over a newer record. So a backfill
after a fix in a transform rewrites what the fix changes and nothing else. Bronze keeps its
checkpoint (its source is Kafka, whose retention may no longer hold the first records), and
so does the ingest query.

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
from streaming.ingest_job import start_silver
from streaming.warehouse_job import rebuild_warehouse

log = logging.getLogger(__name__)

REBUILT = ("silver", "gold", "warehouse")
CHECKPOINTED = ("silver", "gold", "warehouse")  # "warehouse": the query of older releases


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
        removed = reset_checkpoints(spark, settings, [q for q in queries if q in CHECKPOINTED])
        log.info("checkpoints reset: %s", ", ".join(removed) or "none existed")
        key = masking_key(settings)
        if "silver" in queries:  # the warehouse follows, from the same batches
            rebuild = start_silver(spark, settings, secrets, key, trigger="availableNow")
            rebuild.awaitTermination()
        elif "warehouse" in queries:
            rebuild_warehouse(spark, settings, secrets, key)
    run(spark, settings, "availableNow")
    return (
        f"rebuilt {', '.join(queries)} from bronze in {time.monotonic() - began:.0f} s "
        f"(checkpoints reset: {', '.join(removed) or 'none existed'})"
    )
