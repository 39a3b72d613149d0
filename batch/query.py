"""``lakehouse query``: SQL over the lake's Delta tables by name (``bronze.events`` and its
rows of one topic as ``bronze.<topic>``, ``silver.<entity>``, ``gold.<table>``), their
history, and time travel.

Two engines. The fast path needs no JVM and no pyarrow: the ``deltalake`` package reads each
table's log and scans its live files (DataFusion inside delta-rs) for the columns the query
names and, in a single-table query, the simple filters of its WHERE clause; DuckDB runs the
SQL over those Arrow streams. Spark SQL (``--engine spark``) runs anything DuckDB cannot, with
the same table names; ``auto`` uses the fast path and falls back to Spark when ``deltalake``
cannot read a table.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from batch.scan_plan import Scan, plan_scans
from lakehouse.errors import LakehouseError
from lakehouse.registry import BRONZE_EVENTS, LAYERS, bronze_topic, kafka_topic, table_path
from lakehouse.settings import Secrets, Settings

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

log = logging.getLogger(__name__)

Engine = Literal["auto", "duckdb", "spark"]
_TABLE = re.compile(rf"\b({'|'.join(LAYERS)})\.([A-Za-z_][A-Za-z0-9_]*)\b")


class ArrowTable(Protocol):
    """A table that exports the Arrow C stream interface (pyarrow's, arro3's)."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...


class QueryError(LakehouseError):
    """A lake query could not run: unknown table, bad SQL, or an engine failure."""


@dataclass(frozen=True)
class TableRef:
    """A lake table named in a query: ``layer.name``."""

    layer: str
    name: str

    def __str__(self) -> str:
        return f"{self.layer}.{self.name}"


def table_refs(sql: str) -> list[TableRef]:
    """The lake tables ``sql`` names, in order of first mention."""
    seen: dict[TableRef, None] = {}
    for layer, name in _TABLE.findall(sql):
        seen.setdefault(TableRef(layer, name), None)
    return list(seen)


def parse_as_of(value: str | None) -> int | datetime | None:
    """``--as-of``: a table version (an integer) or an ISO timestamp."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise QueryError(f"--as-of {value!r}: give a version number or an ISO timestamp") from exc


def storage_options(settings: Settings, secrets: Secrets) -> dict[str, str]:
    """The ``deltalake`` (object_store) options for the lake's S3 server."""
    return {
        "AWS_ENDPOINT_URL": settings.s3.url,
        "AWS_REGION": settings.s3.region,
        "AWS_ACCESS_KEY_ID": secrets.require("s3_access_key"),
        "AWS_SECRET_ACCESS_KEY": secrets.require("s3_secret_key"),
        "AWS_ALLOW_HTTP": "false" if settings.s3.secure else "true",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false" if settings.s3.path_style else "true",
    }


def lake_source(settings: Settings, ref: TableRef) -> tuple[str, str | None]:
    """The Delta table behind ``ref`` and the Kafka topic its rows are limited to: a
    ``bronze.<topic>`` name is that topic's rows of bronze.events."""
    if ref.layer != "bronze":
        return table_path(settings, ref.layer, ref.name), None
    try:
        topic = bronze_topic(ref.name)
    except ValueError as exc:
        raise QueryError(str(exc)) from exc
    path = table_path(settings, "bronze", BRONZE_EVENTS)
    return path, kafka_topic(settings, topic) if topic else None


def delta_table(
    settings: Settings, secrets: Secrets, ref: TableRef, as_of: int | datetime | None = None
) -> Any:
    """``deltalake.DeltaTable`` behind ``ref`` (bronze.events for ``bronze.<topic>``), at
    ``as_of`` when given."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    uri = "s3://" + lake_source(settings, ref)[0].removeprefix("s3a://")
    try:
        table = DeltaTable(uri, storage_options=storage_options(settings, secrets))
    except TableNotFoundError as exc:
        raise QueryError(f"no table {ref} (looked in {uri})") from exc
    if as_of is not None:
        table.load_as_version(as_of)
    return table


def _topic_scan(scan: Scan, topic: str | None) -> Scan:
    """``scan`` limited to ``topic``'s rows (a ``bronze.<topic>`` name)."""
    if topic is None:
        return scan
    only = f"topic = '{topic}'"
    predicate = f"{only} AND ({scan.predicate})" if scan.predicate else only
    return Scan(scan.columns, predicate, scan.stream)


def _scan_into(con: duckdb.DuckDBPyConnection, ref: TableRef, table: Any, scan: Scan) -> None:
    """``ref`` as ``"layer"."name"`` in DuckDB: a view of the stream, or a table."""
    log.debug("%s: columns %s, rows where %s", ref, scan.columns or "all", scan.predicate or "all")
    stream = table.scan(columns=scan.columns, predicate=scan.predicate).__arrow_c_stream__()
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{ref.layer}"')
    if scan.stream:
        hidden = f"_{ref.layer}__{ref.name}"
        con.register(hidden, stream)
        con.execute(f'CREATE VIEW "{ref.layer}"."{ref.name}" AS SELECT * FROM "{hidden}"')
    else:
        con.from_arrow(stream).create(f'"{ref.layer}"."{ref.name}"')


def run_duckdb(
    sql: str, settings: Settings, secrets: Secrets, as_of: int | datetime | None = None
) -> ArrowTable:
    """``sql`` on DuckDB over scans of the lake tables it names, as an arro3 table."""
    import duckdb

    refs = table_refs(sql)
    tables = {ref: delta_table(settings, secrets, ref, as_of) for ref in refs}
    topics = {ref: lake_source(settings, ref)[1] for ref in refs}
    types = {
        ref: {f.name: str(getattr(f.type, "type", "")) for f in t.schema().fields}
        for ref, t in tables.items()
    }
    try:
        with duckdb.connect() as con:
            plans = plan_scans(con, sql, types)
            try:
                return _execute(con, sql, tables, plans, topics)
            except duckdb.InvalidInputException as exc:
                if "already been consumed" not in str(exc):
                    raise
                log.debug("a stream was scanned twice (%s): copying the tables", exc)
        with duckdb.connect() as con:
            return _execute(con, sql, tables, {ref: Scan() for ref in tables}, topics)
    except duckdb.Error as exc:
        raise QueryError(f"DuckDB: {exc}") from exc


def _execute(
    con: Any,
    sql: str,
    tables: dict[TableRef, Any],
    plans: dict[TableRef, Scan],
    topics: dict[TableRef, str | None],
) -> Any:
    """``sql`` over ``tables`` read as ``plans`` says (limited to ``topics``), as an arro3
    table."""
    from arro3.core import Table

    for ref, table in tables.items():
        _scan_into(con, ref, table, _topic_scan(plans[ref], topics[ref]))
    result = con.sql(sql)
    if result is None:
        raise QueryError("the statement returns no rows: give a query (SELECT ...)")
    return Table.from_arrow(result)


def spark_sql(sql: str, settings: Settings, as_of: int | datetime | None = None) -> str:
    """``sql`` with each lake table replaced by its Delta path (and version), for Spark SQL."""

    def path(match: re.Match[str]) -> str:
        source, topic = lake_source(settings, TableRef(match.group(1), match.group(2)))
        ref = f"delta.`{source}`"
        if isinstance(as_of, int):
            ref = f"{ref} VERSION AS OF {as_of}"
        elif isinstance(as_of, datetime):
            ref = f"{ref} TIMESTAMP AS OF '{as_of.isoformat(sep=' ')}'"
        if topic is None:
            return ref
        return f"(SELECT * FROM {ref} WHERE topic = '{topic}')"

    return _TABLE.sub(path, sql)


def run_spark(sql: str, settings: Settings, as_of: int | datetime | None = None) -> pa.Table:
    """``sql`` on Spark SQL (starts a local session, or uses the configured master)."""
    from pyspark.errors import PySparkException

    from lakehouse.spark import build_spark_session

    spark = build_spark_session("lakehouse-query", settings)
    try:
        return spark.sql(spark_sql(sql, settings, as_of)).toArrow()
    except PySparkException as exc:
        raise QueryError(f"Spark SQL: {str(exc).splitlines()[0]}") from exc


def answer(
    sql: str,
    settings: Settings,
    secrets: Secrets,
    *,
    engine: Engine = "auto",
    as_of: int | datetime | None = None,
) -> tuple[ArrowTable, str]:
    """The result of ``sql`` as an Arrow table (arro3 from DuckDB, pyarrow from Spark) and
    the engine that answered."""
    if not table_refs(sql):
        raise QueryError(f"the query names no lake table ({', '.join(LAYERS)}.<name>)")
    if engine == "spark":
        return run_spark(sql, settings, as_of), "spark"
    from deltalake.exceptions import DeltaError

    try:
        return run_duckdb(sql, settings, secrets, as_of), "duckdb"
    except DeltaError as exc:
        if engine == "duckdb":
            raise QueryError(f"deltalake cannot read the table: {exc}") from exc
        log.info("deltalake cannot read the table (%s): using Spark SQL", exc)
        return run_spark(sql, settings, as_of), "spark"


def run_query(
    sql: str,
    settings: Settings,
    secrets: Secrets,
    *,
    engine: Engine = "auto",
    as_of: int | datetime | None = None,
) -> tuple[pa.Table, str]:
    """The result of ``sql`` as a pyarrow table and the engine that answered."""
    table, used = answer(sql, settings, secrets, engine=engine, as_of=as_of)
    return _pyarrow(table), used


def _pyarrow(table: ArrowTable) -> pa.Table:
    import pyarrow as pa

    if isinstance(table, pa.Table):
        return table
    return pa.RecordBatchReader.from_stream(table).read_all()


def history(settings: Settings, secrets: Secrets, name: str, limit: int | None = None) -> pa.Table:
    """The commits of lake table ``name`` (``layer.table``), newest first."""
    import pyarrow as pa

    refs = table_refs(name)
    if len(refs) != 1 or str(refs[0]) != name.strip():
        raise QueryError(f"--history takes one table as layer.name, not {name!r}")
    commits = delta_table(settings, secrets, refs[0]).history(limit)
    rows = [
        {
            "version": c.get("version"),
            "timestamp": _commit_time(c),
            "operation": c.get("operation"),
            "parameters": str(c.get("operationParameters") or ""),
            "metrics": str(c.get("operationMetrics") or ""),
        }
        for c in commits
    ]
    return pa.Table.from_pylist(rows)


def _commit_time(commit: dict[str, Any]) -> datetime | None:
    millis = commit.get("timestamp")
    return datetime.fromtimestamp(millis / 1000, UTC) if millis is not None else None


# Types whose values arro3 cannot turn into the Python objects pyarrow gives (intervals;
# nanosecond timestamps, which pyarrow keeps whole): rendered through pyarrow.
_PYARROW_TYPES = re.compile(r"Interval|Timestamp\((ns|Nanosecond)")


def _pylist(table: ArrowTable, limit: int) -> tuple[list[str], list[dict[str, Any]], int]:
    """The column names, the first ``limit`` rows as dicts, and the number of rows."""
    from arro3.core import Table

    arrow = Table.from_arrow(table)
    if _PYARROW_TYPES.search(" ".join(str(t) for t in arrow.schema.types)):
        whole = _pyarrow(arrow)
        return whole.column_names, whole.slice(0, limit).to_pylist(), whole.num_rows
    part = arrow.slice(0, min(limit, arrow.num_rows))
    names = part.column_names
    columns = [part.column(i).to_pylist() for i in range(part.num_columns)]
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    return names, rows, arrow.num_rows


def render(table: ArrowTable, fmt: str = "table", limit: int = 100) -> str:
    """``table`` as aligned text (at most ``limit`` rows), CSV or JSON lines."""
    if fmt == "csv":
        import io

        import pyarrow.csv as pacsv

        out = io.BytesIO()
        pacsv.write_csv(_pyarrow(table), out)
        return out.getvalue().decode()
    names, rows, total = _pylist(table, limit)
    if fmt == "json":
        return "\n".join(json.dumps(r, default=str, ensure_ascii=False) for r in rows)
    return _aligned(names, rows, total, limit)


WIDEST = 60  # characters of a cell shown in the aligned table


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= WIDEST else text[: WIDEST - 1] + "…"


def _aligned(columns: Sequence[str], rows: list[dict[str, Any]], total: int, limit: int) -> str:
    cells = [[_cell(r[c]) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))  # noqa: E731
    out = [line(columns), line(["-" * w for w in widths]), *map(line, cells)]
    shown = f"{total} row{'s' if total != 1 else ''}"
    out.append(f"({shown}, first {limit} shown)" if total > limit else f"({shown})")
    return "\n".join(s.rstrip() for s in out)
