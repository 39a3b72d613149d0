"""``lakehouse batch lifecycle``: bronze partitions older than ``maintenance.bronze_hot_days``
leave bronze, one ingest date at a time.

With ``bronze_expiry = "cold"`` they are copied to bronze's cold Delta table
(``cold/bronze/events``, a prefix an object-store lifecycle rule can move to a cheaper storage
class) and then deleted from bronze; with ``"expire"`` they are only deleted. The copy
overwrites exactly the dates it moves (``replaceWhere``), so a run interrupted between the copy
and the delete is repaired by the next one. Each move is an audit entry.

Time travel and VACUUM: the delete is a metadata commit, so older bronze versions still read
the moved rows until VACUUM removes their files (``maintenance.vacuum_retention_hours`` after
the move); from then on the rows are read from the cold table. The silver query's bronze
reader (a backfill) skips these commits (``skipChangeCommits``): rows leaving bronze change
nothing downstream, and
"silver + quarantine = bronze" holds over bronze and its cold table together.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from batch.lake_jobs import JobResult
from lakehouse.registry import BRONZE_EVENTS, cold_path, table_path
from lakehouse.settings import Secrets, Settings
from security.runtime import audit_event
from streaming.delta_io import table_exists, writing

log = logging.getLogger(__name__)


def move_old_partitions(
    spark: SparkSession, settings: Settings, cutoff: date, expire: bool
) -> tuple[list[date], int]:
    """Move (or, with ``expire``, delete) the partitions of bronze.events ingested before
    ``cutoff``. Returns the dates moved and the rows they held."""
    from delta.tables import DeltaTable

    path = table_path(settings, "bronze", BRONZE_EVENTS)
    with writing(path):
        bronze = spark.read.format("delta").load(path)
        old = bronze.where(F.col("ingest_date") < F.lit(cutoff))
        dates = sorted(r.ingest_date for r in old.select("ingest_date").distinct().collect())
        if not dates:
            return [], 0
        rows = old.count()
        if not expire:
            listed = ", ".join(f"DATE'{d.isoformat()}'" for d in dates)
            (
                old.write.format("delta")
                .mode("overwrite")
                .partitionBy("ingest_date")
                .option("replaceWhere", f"ingest_date IN ({listed})")
                .save(cold_path(settings, "bronze", BRONZE_EVENTS))
            )
        DeltaTable.forPath(spark, path).delete(F.col("ingest_date") < F.lit(cutoff))
    return dates, rows


def run_lifecycle(
    spark: SparkSession, settings: Settings, secrets: Secrets, args: dict[str, Any]
) -> JobResult:
    """The ``lifecycle`` lake job over bronze.events."""
    days = int(args.get("older_than_days") or settings.maintenance.bronze_hot_days)
    expire = settings.maintenance.bronze_expiry == "expire"
    cutoff = datetime.now(UTC).date() - timedelta(days=days)
    lines, figures = [], {}
    name = f"bronze.{BRONZE_EVENTS}"
    if table_exists(spark, table_path(settings, "bronze", BRONZE_EVENTS)):
        dates, rows = move_old_partitions(spark, settings, cutoff, expire)
        if dates:
            cold = cold_path(settings, "bronze", BRONZE_EVENTS)
            where = "expired" if expire else f"moved to {cold}"
            outcome = f"{rows} rows of {len(dates)} ingest dates ({dates[0]}..{dates[-1]}) {where}"
            audit_event(settings, "lifecycle.bronze", name, f"ok: {outcome}")
            lines.append(f"{name}: {outcome}")
            figures[name] = {"rows": rows, "dates": [d.isoformat() for d in dates]}
    lines.append(
        f"bronze partitions ingested before {cutoff} ({days} days): {len(figures)} tables changed"
        if figures
        else f"nothing ingested before {cutoff}"
    )
    return JobResult("\n".join(lines), {"cutoff": cutoff.isoformat(), "tables": figures})
