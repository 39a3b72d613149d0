"""The warehouse load: one micro-batch's typed rows into the star schema in ONE transaction.

    claim (query, batch) in etl.batch_log  -> already there: a replay, skip it
    COPY each entity's rows into a typed temporary staging table (stage_<entity>)
    run warehouse/load/NN_*.sql in order  -> dimensions, inferred members, facts
    record the silver versions the rows were written to (etl.source_version), when known
    mark the batch committed, COMMIT

The rows and the batch's log row commit together, so a batch is loaded exactly once however
often the streaming query replays it. Rows are upserted on their grain; a row older (by the
source record's ``produced_at``) than the one loaded, or equal to it, changes nothing, so even
the same rows under a new batch id leave the warehouse as it was.

The streaming query loads a batch without waiting for silver to commit it (the warehouse is
what users watch) and records the versions silver reached after (``record_versions``). The
reconciliation (``reconcile``) compares the warehouse's totals with silver's at the versions
recorded, apart from the load: it reads whole silver tables, too slow for every batch.
"""

from __future__ import annotations

import functools
import io
import json
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
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
# Every entity the load stages, in the order their staging tables are made.
STAGED = (
    "category_translation", "products", "sellers", "customers", "orders", "order_items",
    "order_payments", "order_reviews", "sgs", "weather", "quarantine",
)  # fmt: skip
SOURCE_VERSION = (
    "INSERT INTO etl.source_version AS t (source, version) VALUES (%s, %s)"
    " ON CONFLICT (source) DO UPDATE SET version = greatest(t.version, EXCLUDED.version),"
    " updated_at = now()"
)
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
    """What a load did: rows received and rows touched per step."""

    batch_id: int
    received: int
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def written(self) -> int:
        return sum(self.rows.values())


def mismatches(compared: Mapping[str, tuple[Decimal, Decimal]]) -> list[str]:
    """The reconciliation measures whose warehouse and silver figures differ."""
    return [m for m, (w, s) in compared.items() if w != s]


@functools.cache
def load_steps(directory: Path = LOAD_DIR) -> tuple[LoadStep, ...]:
    """The load's SQL statements in order (``NN_<name>.sql``, one statement each), read once."""
    return tuple(
        LoadStep(path.stem.split("_", 1)[1], path.read_text())
        for path in sorted(directory.glob("[0-9][0-9]_*.sql"))
    )


def csv_bytes(rows: pa.Table) -> bytes:
    """``rows`` as header-less CSV, the input of a PostgreSQL ``COPY ... (FORMAT csv)``: a null
    is an empty field, an empty string a quoted one."""
    sink = io.BytesIO()
    pacsv.write_csv(rows, sink, pacsv.WriteOptions(include_header=False))
    return sink.getvalue()


def postgres_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL type a staging column of ``arrow_type`` gets."""
    if pa.types.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        # Olist's times are local times without a zone; Spark sends them as UTC instants of
        # the same wall-clock time (its session time zone is UTC)
        return "timestamp"
    for test, name in _TYPES:
        if test(arrow_type):
            return name
    raise WarehouseLoadError(f"no staging type for Arrow type {arrow_type}")


_TYPES = (
    (pa.types.is_string, "text"),
    (pa.types.is_large_string, "text"),
    (pa.types.is_boolean, "boolean"),
    (pa.types.is_int8, "smallint"),
    (pa.types.is_int16, "smallint"),
    (pa.types.is_int32, "integer"),
    (pa.types.is_int64, "bigint"),
    (pa.types.is_float32, "real"),
    (pa.types.is_float64, "double precision"),
    (pa.types.is_date32, "date"),
)


def stage(conn: psycopg.Connection, entity: str, rows: pa.Table) -> None:
    """``rows`` in a temporary table ``stage_<entity>`` typed like them, dropped at commit."""
    if not entity.isidentifier():
        raise ValueError(f"not an entity name: {entity!r}")
    columns = [f'"{f.name}" {postgres_type(f.type)}' for f in rows.schema]
    conn.execute(f"CREATE TEMP TABLE stage_{entity} ({', '.join(columns)}) ON COMMIT DROP")  # type: ignore[arg-type]
    if rows.num_rows:
        names = ", ".join(f'"{n}"' for n in rows.column_names)
        sql = f"COPY stage_{entity} ({names}) FROM STDIN (FORMAT csv)"
        with conn.cursor().copy(sql) as copy:  # type: ignore[arg-type]
            copy.write(csv_bytes(rows))


def load_rows(
    conn: psycopg.Connection,
    query_name: str,
    query_id: str,
    batch_id: int,
    rows: Mapping[str, pa.Table],
    versions: Mapping[str, int] | None = None,
) -> LoadResult | None:
    """Load ``rows`` (entity -> its warehouse rows, every entity of ``STAGED`` present, empty
    or not) as batch ``batch_id`` of query ``query_id``; None when that batch was loaded
    before. ``versions``: the silver table versions the rows were written to, kept for the
    reconciliation. ``conn`` is in autocommit mode, so the load is its own transaction."""
    if not conn.autocommit:
        raise ValueError("load_rows needs an autocommit connection (it opens its transaction)")
    missing = sorted(set(STAGED) - set(rows))
    if missing:
        raise ValueError(f"load_rows lacks the rows of {', '.join(missing)} (empty tables will do)")
    received = sum(table.num_rows for table in rows.values())
    with conn.transaction():
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        claim = (query_name, query_id, batch_id, received)
        if conn.execute(CLAIM, claim).fetchone() is None:
            log.info("%s batch %d was loaded before: skipped", query_name, batch_id)
            return None
        result = LoadResult(batch_id, received)
        for entity in STAGED:
            stage(conn, entity, rows[entity])
        for step in load_steps():
            cursor = conn.execute(step.sql)  # type: ignore[arg-type]
            count = cursor.fetchone()[0] if cursor.description else cursor.rowcount
            if step.name != "dim_date" and count:
                result.rows[step.name] = int(count or 0)
        if versions:
            conn.cursor().executemany(SOURCE_VERSION, sorted(versions.items()))
        conn.execute(
            "UPDATE etl.batch_log SET rows = %s, committed_at = clock_timestamp()"
            " WHERE query_name = %s AND query_id = %s AND batch_id = %s",
            (json.dumps(result.rows), query_name, query_id, batch_id),
        )
    return result


def record_versions(conn: psycopg.Connection, versions: Mapping[str, int]) -> None:
    """Record the silver versions reached by the writes of a batch already loaded."""
    with conn.transaction():
        conn.cursor().executemany(SOURCE_VERSION, sorted(versions.items()))


def reconcile(
    conn: psycopg.Connection,
    query_id: str,
    batch_id: int,
    silver_totals: SilverTotals,
    settled: AbstractContextManager[object] | None = None,
) -> dict[str, tuple[Decimal, Decimal]]:
    """Compare the warehouse's totals with silver's at the versions last loaded and record
    both in ops.reconciliation under (``query_id``, ``batch_id``): the versions and the totals
    are read in one snapshot, so a load committing meanwhile does not skew them; inside
    ``settled`` when given (held while a batch is loaded but its silver versions not yet
    recorded)."""
    with settled or nullcontext(), conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        versions = dict(conn.execute("SELECT source, version FROM etl.source_version").fetchall())
        warehouse = conn.execute(WAREHOUSE_TOTALS).fetchone()
    assert warehouse is not None
    silver = silver_totals(versions)
    pairs = zip(MEASURES, warehouse, strict=True)
    compared = {m: (Decimal(w), Decimal(silver[m])) for m, w in pairs}
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO ops.reconciliation (query_id, batch_id, measure, warehouse, silver)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
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
