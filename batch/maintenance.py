"""``lakehouse batch maintain``: keep the lake's Delta tables healthy.

Per table: OPTIMIZE (bin-packing compaction, or Z-ORDER on the columns the dashboards and
point queries filter by) when it has small files, then VACUUM with a retention of at least
seven days (``maintenance.vacuum_retention_hours``). Small-file statistics before and after
go to ``ops.table_maintenance`` and into the report. The job runs in the driver that holds
the lake (``batch.lake_jobs``), each OPTIMIZE under the table's write lock: the streaming
queries' MERGEs wait for it rather than fail, and appends and streaming reads are unaffected
(OPTIMIZE commits change no data).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import SparkSession

from batch.lake_jobs import JobResult
from batch.query import TableRef, delta_table
from lakehouse.postgres import connect
from lakehouse.registry import BRONZE_EVENTS, table_path
from lakehouse.settings import Secrets, Settings
from streaming.delta_io import table_exists, writing

log = logging.getLogger(__name__)

# Z-ORDER columns: what dashboards (dates, states) and point queries (ids) filter by. Other
# tables are compacted only.
ZORDER = {
    "bronze.events": ("topic",),  # one topic's rows (bronze.<topic>) then skip other files
    "silver.orders": ("order_purchase_timestamp", "order_id"),
    "silver.order_items": ("order_id",),
    "gold.daily_sales": ("sale_date", "state"),
    "gold.sales_weather": ("sale_date", "state"),
}


@dataclass(frozen=True)
class FileStats:
    """A table version's data files: how many, how many small, bytes and rows."""

    files: int
    small_files: int
    bytes: int
    rows: int


@dataclass(frozen=True)
class TableMaintenance:
    """What maintenance did to one table."""

    table: str
    before: FileStats
    after: FileStats
    optimize: str
    vacuumed_files: int
    duration_s: float


def lake_tables() -> list[TableRef]:
    """Every table of the lake the pipeline writes: bronze.events, silver per entity and the
    quarantine, gold."""
    from streaming.contracts import CONTRACTS
    from streaming.gold_job import KEYS
    from streaming.silver_job import QUARANTINE

    return [
        TableRef("bronze", BRONZE_EVENTS),
        *(TableRef("silver", entity) for entity in (*CONTRACTS, QUARANTINE)),
        *(TableRef("gold", name) for name in KEYS),
    ]


def file_stats(settings: Settings, secrets: Secrets, ref: TableRef, small_bytes: int) -> FileStats:
    """Statistics of the live files of ``ref``'s latest version (from its log, no JVM)."""
    actions = delta_table(settings, secrets, ref).get_add_actions(flatten=True)
    sizes = actions.column("size_bytes").to_pylist()
    rows = actions.column("num_records").to_pylist()
    return FileStats(
        files=len(sizes),
        small_files=sum(1 for size in sizes if size < small_bytes),
        bytes=sum(sizes),
        rows=sum(r or 0 for r in rows),
    )


def maintain_table(
    spark: SparkSession, settings: Settings, secrets: Secrets, ref: TableRef, vacuum: bool
) -> TableMaintenance:
    """OPTIMIZE ``ref`` when it has at least two small files, then VACUUM it."""
    from delta.tables import DeltaTable

    began = time.monotonic()
    small = settings.maintenance.small_file_mb * 1024 * 1024
    path = table_path(settings, ref.layer, ref.name)
    with writing(path):  # no commit of this driver lands on the table meanwhile
        before = file_stats(settings, secrets, ref, small)
        action = "skipped"
        if before.small_files >= 2:
            optimizer = DeltaTable.forPath(spark, path).optimize()
            columns = ZORDER.get(str(ref))
            if columns:
                optimizer.executeZOrderBy(*columns)
                action = f"zorder({', '.join(columns)})"
            else:
                optimizer.executeCompaction()
                action = "compaction"
        after = file_stats(settings, secrets, ref, small)
    if after.rows != before.rows:
        raise RuntimeError(f"{ref}: OPTIMIZE changed the row count {before.rows} -> {after.rows}")
    vacuumed = 0
    if vacuum:
        hours = settings.maintenance.vacuum_retention_hours
        vacuumed = vacuum_table(spark, path, hours)
    return TableMaintenance(str(ref), before, after, action, vacuumed, time.monotonic() - began)


def vacuum_table(spark: SparkSession, path: str, retention_hours: float) -> int:
    """VACUUM the table at ``path``: delete the files no version younger than
    ``retention_hours`` needs. Returns how many it deleted (from its VACUUM END commit)."""
    from delta.tables import DeltaTable

    if retention_hours < 168:  # an erasure's purge: Delta refuses below 7 days unless told
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    # VACUUM lists the table's folders in a Spark job of this many tasks (default 10,000)
    spark.conf.set(
        "spark.sql.sources.parallelPartitionDiscovery.parallelism",
        str(spark.sparkContext.defaultParallelism * 2),
    )
    spark.conf.set("spark.databricks.delta.vacuum.logging.enabled", "true")  # VACUUM START/END
    spark.sql(f"VACUUM delta.`{path}` RETAIN {retention_hours} HOURS").collect()
    last = DeltaTable.forPath(spark, path).history(1).first()
    if last is None or last.operation != "VACUUM END":
        return 0
    return int((last.operationMetrics or {}).get("numDeletedFiles", 0))


def run_maintenance(
    spark: SparkSession, settings: Settings, secrets: Secrets, args: dict[str, Any]
) -> JobResult:
    """The ``maintain`` lake job: every table (or ``args["tables"]``), optimized and vacuumed
    (unless ``args["vacuum"]`` is false); statistics stored and reported."""
    wanted = set(args.get("tables") or [])
    refs = [r for r in lake_tables() if not wanted or str(r) in wanted]
    unknown = wanted - {str(r) for r in refs}
    if unknown:
        raise ValueError(f"unknown tables: {', '.join(sorted(unknown))}")
    run_at = datetime.now(UTC)
    done = [
        maintain_table(spark, settings, secrets, ref, bool(args.get("vacuum", True)))
        for ref in refs
        if table_exists(spark, table_path(settings, ref.layer, ref.name))
    ]
    _store(settings, secrets, run_at, done)
    return JobResult(
        report(done), {"run_at": run_at.isoformat(), "tables": [asdict(d) for d in done]}
    )


def _store(
    settings: Settings, secrets: Secrets, run_at: datetime, done: list[TableMaintenance]
) -> None:
    with connect(settings, secrets, role="loader") as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO ops.table_maintenance (run_at, table_name, files_before, files_after, "
            "small_files_before, small_files_after, bytes_before, bytes_after, rows_before, "
            "rows_after, optimize, vacuumed_files, duration_s) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    run_at,
                    d.table,
                    d.before.files,
                    d.after.files,
                    d.before.small_files,
                    d.after.small_files,
                    d.before.bytes,
                    d.after.bytes,
                    d.before.rows,
                    d.after.rows,
                    d.optimize,
                    d.vacuumed_files,
                    d.duration_s,
                )
                for d in done
            ],
        )


def report(done: list[TableMaintenance]) -> str:
    """One line per table: files and small files before -> after, rows, what ran."""
    header = f"{'table':<34} {'files':>11} {'small':>11} {'MiB':>13} {'rows':>9}  optimize"
    lines = [header]
    for d in done:
        b, a = d.before, d.after
        lines.append(
            f"{d.table:<34} {b.files:>5}->{a.files:<5} {b.small_files:>5}->{a.small_files:<5} "
            f"{b.bytes / 2**20:>6.1f}->{a.bytes / 2**20:<6.1f} {a.rows:>9}  {d.optimize}"
            f"{f', vacuumed {d.vacuumed_files} files' if d.vacuumed_files else ''}"
        )
    files = sum(d.before.files for d in done), sum(d.after.files for d in done)
    lines.append(f"{len(done)} tables: {files[0]} files -> {files[1]}, row counts unchanged")
    return "\n".join(lines)
