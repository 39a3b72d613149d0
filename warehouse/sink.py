"""The warehouse load: one micro-batch of silver changes into the star schema in ONE
transaction.

    claim (query, batch) in etl.batch_log  -> already there: a replay, skip it
    COPY the changes into a temporary staging table
    run warehouse/load/NN_*.sql in order  -> deletes, dimensions, inferred members, facts
    reconcile warehouse totals with silver's at the versions loaded (ops.reconciliation)
    mark the batch committed, COMMIT

The rows and the batch's log row commit together, so a batch is loaded exactly once however
often the streaming query replays it. Facts are upserted on their grain and rows that would not
change are left alone, so even the same changes under a new batch id change nothing.
"""

from __future__ import annotations

import functools
import io
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from lakehouse.errors import LakehouseError
from lakehouse.postgres import connect
from lakehouse.settings import Secrets, Settings

log = logging.getLogger(__name__)

LOAD_DIR = Path(__file__).parent / "load"
STAGE = (
    "CREATE TEMP TABLE stage_changes (entity text NOT NULL, key text NOT NULL, row jsonb NOT NULL,"
    " version bigint NOT NULL, deleted boolean NOT NULL) ON COMMIT DROP"
)
CLAIM = (
    "INSERT INTO etl.batch_log (query_name, query_id, batch_id, changes) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT DO NOTHING RETURNING 1"
)
# The warehouse's side of each reconciliation measure; silver's comes from the caller.
WAREHOUSE_TOTALS = """
SELECT (SELECT count(*) FROM dw.fct_order)                          AS orders,
       (SELECT count(*) FROM dw.fct_order_item)                     AS order_items,
       (SELECT coalesce(sum(price), 0) FROM dw.fct_order_item)      AS gmv,
       (SELECT coalesce(sum(freight_value), 0) FROM dw.fct_order_item) AS freight,
       (SELECT count(*) FROM dw.fct_payment)                        AS payments,
       (SELECT coalesce(sum(payment_value), 0) FROM dw.fct_payment) AS payment_value,
       (SELECT count(*) FROM dw.fct_review)                         AS reviews
"""
MEASURES = ("orders", "order_items", "gmv", "freight", "payments", "payment_value", "reviews")

# Silver's totals of MEASURES at the given table versions (entity -> version).
SilverTotals = Callable[[Mapping[str, int]], Mapping[str, Decimal]]


class WarehouseLoadError(LakehouseError):
    """The warehouse could not be reached, or a micro-batch could not be loaded into it."""


@dataclass(frozen=True)
class LoadStep:
    name: str
    sql: str


@dataclass
class LoadResult:
    """What a load did: rows touched per step, and each reconciliation measure as (warehouse,
    silver)."""

    batch_id: int
    changes: int
    rows: dict[str, int] = field(default_factory=dict)
    reconciliation: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)

    @property
    def written(self) -> int:
        return sum(self.rows.values())

    @property
    def mismatches(self) -> list[str]:
        return [m for m, (w, s) in self.reconciliation.items() if w != s]


@functools.cache
def load_steps(directory: Path = LOAD_DIR) -> tuple[LoadStep, ...]:
    """The load's SQL statements in order (``NN_<name>.sql``, one statement each), read once."""
    return tuple(
        LoadStep(path.stem.split("_", 1)[1], path.read_text())
        for path in sorted(directory.glob("[0-9][0-9]_*.sql"))
    )


def csv_bytes(rows: pa.Table) -> bytes:
    """``rows`` as header-less CSV, the input of a PostgreSQL ``COPY ... (FORMAT csv)``."""
    sink = io.BytesIO()
    pacsv.write_csv(rows, sink, pacsv.WriteOptions(include_header=False))
    return sink.getvalue()


def load_changes(
    conn: psycopg.Connection,
    query_name: str,
    query_id: str,
    batch_id: int,
    changes: pa.Table,
    silver_totals: SilverTotals | None = None,
) -> LoadResult | None:
    """Load ``changes`` (``streaming.warehouse_changes.CHANGE_SCHEMA`` columns) as batch
    ``batch_id`` of query ``query_id``; None when that batch was loaded before.
    ``silver_totals`` enables the reconciliation. ``conn`` is in autocommit mode, so the load
    is its own transaction."""
    if not conn.autocommit:
        raise ValueError("load_changes needs an autocommit connection (it opens its transaction)")
    with conn.transaction():
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        claim = (query_name, query_id, batch_id, changes.num_rows)
        if conn.execute(CLAIM, claim).fetchone() is None:
            log.info("%s batch %d was loaded before: skipped", query_name, batch_id)
            return None
        result = LoadResult(batch_id, changes.num_rows)
        conn.execute(STAGE)
        with conn.cursor().copy("COPY stage_changes FROM STDIN (FORMAT csv)") as copy:
            copy.write(csv_bytes(changes.select(["entity", "key", "row", "version", "deleted"])))
        for step in load_steps():
            cursor = conn.execute(step.sql)  # type: ignore[arg-type]
            count = cursor.fetchone()[0] if cursor.description else cursor.rowcount
            if step.name not in ("latest", "dim_date", "source_version") and count:
                result.rows[step.name] = int(count or 0)
        if silver_totals is not None:
            result.reconciliation = _reconcile(conn, query_id, batch_id, silver_totals)
        conn.execute(
            "UPDATE etl.batch_log SET rows = %s, committed_at = clock_timestamp()"
            " WHERE query_name = %s AND query_id = %s AND batch_id = %s",
            (json.dumps(result.rows), query_name, query_id, batch_id),
        )
    return result


def _reconcile(
    conn: psycopg.Connection, query_id: str, batch_id: int, silver_totals: SilverTotals
) -> dict[str, tuple[Decimal, Decimal]]:
    versions = dict(conn.execute("SELECT source, version FROM etl.source_version").fetchall())
    warehouse = conn.execute(WAREHOUSE_TOTALS).fetchone()
    assert warehouse is not None
    silver = silver_totals(versions)
    pairs = zip(MEASURES, warehouse, strict=True)
    compared = {m: (Decimal(w), Decimal(silver[m])) for m, w in pairs}
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO ops.reconciliation (query_id, batch_id, measure, warehouse, silver)"
            " VALUES (%s, %s, %s, %s, %s)",
            [(query_id, batch_id, m, w, s) for m, (w, s) in compared.items()],
        )
    return compared


def connect_loader(settings: Settings, secrets: Secrets, attempts: int = 6) -> psycopg.Connection:
    """A connection as the loader role, retried with exponential backoff (about a minute in
    all) while PostgreSQL is unreachable; then a clear error."""
    retrying = Retrying(
        retry=retry_if_exception_type(psycopg.OperationalError),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(initial=1, max=20),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
    try:
        conn = retrying(connect, settings, secrets, role="loader")
        conn.autocommit = True
        return conn
    except psycopg.OperationalError as exc:
        pg = settings.postgres
        raise WarehouseLoadError(
            f"PostgreSQL at {pg.host}:{pg.port} (database {settings.warehouse_database}) "
            f"unreachable after {attempts} attempts: {str(exc).strip().splitlines()[0]}"
        ) from exc
