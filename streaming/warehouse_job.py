"""The warehouse's side of a micro-batch: the rows silver writes, loaded into PostgreSQL in the
same foreachBatch (``load_warehouse``): typed by Spark, staged by one COPY per entity, upserted
into the star schema, claimed in etl.batch_log, in one transaction, so a replayed batch
changes nothing. Nothing reads silver back for it.

The ingest query loads a batch before its silver writes, so its rows reach the warehouse
without waiting for them, and records the silver versions after them
(``record_silver_versions``),
holding ``SILVER_CATCHING_UP`` from the load until then: the reconciliation takes its
snapshot outside that window, so it never compares a batch's rows with silver before them.

The reconciliation (``reconcile_warehouse``) compares the warehouse's totals (orders, items,
GMV, freight, payments, reviews) with silver's at the table versions last loaded and records
both in ops.reconciliation. It reads whole silver tables, so it runs apart from the hot path:
after each gold batch. ``rebuild_warehouse`` loads the warehouse from silver's current tables
(a backfill of the warehouse alone).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TypeVar

import psycopg
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from lakehouse.registry import table_path
from lakehouse.settings import Secrets, Settings
from streaming.delta_io import run_side_by_side, table_version
from streaming.silver_job import empty_silver
from streaming.warehouse_rows import warehouse_rows
from warehouse.sink import (
    STAGED,
    LoadResult,
    SilverTotals,
    WarehouseLoadError,
    connect_loader,
    load_rows,
    mismatches,
    reconcile,
    record_versions,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
LOAD_ATTEMPTS = 3  # a batch whose connection breaks mid-load is loaded again, this many times

# reconciliation measure -> (silver table, aggregate, column)
SILVER_MEASURES = {
    "orders": ("orders", "count", "*"),
    "order_items": ("order_items", "count", "*"),
    "gmv": ("order_items", "sum", "price"),
    "freight": ("order_items", "sum", "freight_value"),
    "payments": ("order_payments", "count", "*"),
    "payment_value": ("order_payments", "sum", "payment_value"),
    "reviews": ("order_reviews", "count", "*"),
}
RECONCILED = tuple(sorted({table for table, _, _ in SILVER_MEASURES.values()}))

# held from a batch's warehouse load until its silver versions are recorded
SILVER_CATCHING_UP = threading.Lock()

_empty_rows: dict[str, pa.Table] = {}  # entity -> no rows, with its warehouse columns


def warehouse_tables(
    frames: Mapping[str, DataFrame],
    spark: SparkSession,
    masking_key: tuple[int, bytes],
    threads: int = 1,
) -> dict[str, pa.Table]:
    """Every staged entity's warehouse rows as Arrow tables, from ``frames`` (silver table ->
    the rows silver writes), ``threads`` entities at a time; an entity without a frame gets
    an empty table of its columns."""

    def arrow_of(entity: str) -> Callable[[SparkSession], pa.Table]:
        return lambda _session: warehouse_rows(entity, frames[entity], masking_key).toArrow()

    present = [entity for entity in STAGED if entity in frames]
    found = run_side_by_side(spark, {e: arrow_of(e) for e in present}, threads)
    tables = {}
    for entity in STAGED:
        if entity in found:
            tables[entity] = found[entity]
            continue
        if entity not in _empty_rows:  # its columns, found without a Spark job
            empty = warehouse_rows(entity, empty_silver(spark, entity, masking_key), masking_key)
            schema = to_arrow_schema(empty.schema, timezone="UTC")
            _empty_rows[entity] = schema.empty_table()
        tables[entity] = _empty_rows[entity]
    return tables


def load_warehouse(
    frames: Mapping[str, DataFrame],
    settings: Settings,
    secrets: Secrets,
    masking_key: tuple[int, bytes],
    *,
    query: tuple[str, str, int],
    versions: Mapping[str, int] | None = None,
) -> LoadResult | None:
    """Load ``frames`` (silver table -> the rows silver writes, one batch) into the warehouse
    as ``query`` = (query name, query id, batch id); None when that batch was loaded before.
    ``versions``: the silver versions the rows went to."""
    if not frames:
        return None
    spark = next(iter(frames.values())).sparkSession
    tables = warehouse_tables(frames, spark, masking_key)
    return load_tables(tables, settings, secrets, query=query, versions=versions)


def load_tables(
    tables: Mapping[str, pa.Table],
    settings: Settings,
    secrets: Secrets,
    *,
    query: tuple[str, str, int],
    versions: Mapping[str, int] | None = None,
) -> LoadResult | None:
    """``warehouse_tables``' output loaded as ``query`` (see ``load_warehouse``), loaded again
    when the connection breaks."""
    name, query_id, batch_id = query
    return _reconnecting(
        settings,
        secrets,
        f"warehouse load of {name} batch {batch_id}",
        lambda conn: load_rows(conn, name, query_id, batch_id, tables, versions),
    )


def record_silver_versions(
    settings: Settings, secrets: Secrets, versions: Mapping[str, int], query: tuple[str, str, int]
) -> None:
    """Record the silver versions batch ``query`` reached, after its warehouse load."""
    if versions:
        what = f"recording the silver versions of {query[0]} batch {query[2]}"
        _reconnecting(settings, secrets, what, lambda conn: record_versions(conn, versions))


def _reconnecting(
    settings: Settings, secrets: Secrets, what: str, work: Callable[[psycopg.Connection], T]
) -> T:
    """``work(connection)``, on a new connection when the last one broke."""
    for attempt in range(1, LOAD_ATTEMPTS + 1):
        try:
            with connect_loader(settings, secrets) as conn:
                return work(conn)
        except psycopg.OperationalError as exc:
            # The connection went (PostgreSQL restarted) or the transaction was rolled back:
            # nothing of it stayed, or all of it (a COMMIT whose answer was lost), which the
            # claim in etl.batch_log then skips. Either way doing it again is safe.
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if attempt == LOAD_ATTEMPTS:
                raise WarehouseLoadError(f"{what} failed {attempt} times, last: {reason}") from exc
            log.warning(
                "%s interrupted (%s): trying again (attempt %d of %d)",
                what,
                reason,
                attempt + 1,
                LOAD_ATTEMPTS,
            )
    raise AssertionError("unreachable")


def silver_totals(spark: SparkSession, settings: Settings) -> SilverTotals:
    """The reconciliation's silver side: ``SILVER_MEASURES`` over the silver tables at the
    given versions (a table not loaded yet counts as empty). Remembers each table's figures at
    its last version, so a reconciliation reads again only the tables that moved."""
    last: dict[str, tuple[int, dict[str, Decimal]]] = {}  # entity -> (version, its measures)

    def measures_of(entity: str, version: int) -> dict[str, Decimal]:
        if entity in last and last[entity][0] == version:
            return last[entity][1]
        aggregates = [
            getattr(F, function)(column).alias(measure)
            for measure, (source, function, column) in SILVER_MEASURES.items()
            if source == entity
        ]
        frame = (
            spark.read.format("delta")
            .option("versionAsOf", version)
            .load(table_path(settings, "silver", entity))
        )
        row = frame.agg(*aggregates).first()
        assert row is not None
        found = {k: Decimal(v or 0) for k, v in row.asDict().items()}
        last[entity] = (version, found)
        return found

    def totals(versions: Mapping[str, int]) -> Mapping[str, Decimal]:
        found = {measure: Decimal(0) for measure in SILVER_MEASURES}
        for entity in sorted(set(RECONCILED) & set(versions)):
            found.update(measures_of(entity, versions[entity]))
        return found

    return totals


def reconcile_warehouse(
    settings: Settings, secrets: Secrets, totals: SilverTotals, query_id: str, batch_id: int
) -> list[str] | None:
    """Reconcile the warehouse with silver under (``query_id``, ``batch_id``); returns the
    measures that differ, or None when PostgreSQL could not be reached (a check, not a load:
    the next one catches up)."""
    try:
        with connect_loader(settings, secrets, attempts=2) as conn:
            compared = reconcile(conn, query_id, batch_id, totals, SILVER_CATCHING_UP)
    except (WarehouseLoadError, psycopg.OperationalError) as exc:
        # not reached, or the connection went mid-way (PostgreSQL restarted): a check is no
        # reason to stop gold's query
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning("reconciliation skipped: %s", reason)
        return None
    differ = mismatches(compared)
    if differ:
        log.warning("the warehouse differs from silver in %s", ", ".join(differ))
    return differ


def rebuild_warehouse(
    spark: SparkSession, settings: Settings, secrets: Secrets, masking_key: tuple[int, bytes]
) -> LoadResult | None:
    """Load silver's current tables (and its quarantine) into the warehouse as one batch of
    a one-off query, then reconcile: the warehouse rebuilt without a stream."""
    frames, versions = {}, {}
    for table in STAGED:
        path = table_path(settings, "silver", table)
        frames[table] = spark.read.format("delta").load(path)
        if table in RECONCILED:
            versions[table] = table_version(spark, path)
    query_id = str(uuid.uuid4())
    result = load_warehouse(
        frames, settings, secrets, masking_key, query=("rebuild", query_id, 0), versions=versions
    )
    reconcile_warehouse(settings, secrets, silver_totals(spark, settings), query_id, 0)
    return result
