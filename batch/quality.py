"""``lakehouse batch quality``: run the catalogue's expectations (``batch/catalogue.py``) and
store one row per expectation in ``ops.quality_results``.

Lake tables are read without a JVM, the way ``lakehouse query`` reads them
(``batch.query.run_duckdb``: delta-rs reads the table, DuckDB runs the SQL), each single-table
check pinned to the Delta version recorded beside its result; warehouse tables are checked over
psycopg. The loader role writes the results.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import psycopg
import pyarrow as pa
from deltalake.exceptions import DeltaError
from psycopg.types.json import Jsonb

from batch.catalogue import EXPECTATIONS
from batch.expectations import Expectation, Severity, describe_failure, to_sql
from batch.query import QueryError, TableRef, delta_table, run_duckdb
from lakehouse.errors import LakehouseError
from lakehouse.settings import Secrets, Settings, get_settings, load_secrets
from warehouse.sink import connect_loader

log = logging.getLogger(__name__)

LAYERS = ("silver", "gold", "warehouse")
LAKE_WORKERS = 4  # lake checks run side by side: most of each one is waiting on the store

INSERT_RESULT = """
INSERT INTO ops.quality_results (
    run_id, checked_at, layer, table_name, expectation, kind, severity,
    passed, failing_rows, sample, detail, query, table_version
) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


class QualityError(LakehouseError):
    """Critical expectations failed, or the selection of expectations is empty."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one expectation. ``passed`` is None when it could not run because a
    table it reads does not exist (it is then neither a pass nor a failure)."""

    expectation: Expectation
    passed: bool | None
    failing_rows: int | None
    sample: tuple[dict[str, Any], ...]
    detail: str
    sql: str
    table_version: int | None = None

    @property
    def failed(self) -> bool:
        return self.passed is False

    @property
    def line(self) -> str:
        """``CRITICAL gold.daily_sales unique(...): 3 duplicate keys, e.g. ...``."""
        e = self.expectation
        return f"{e.severity.upper():<8} {e.table} {e.name}: {self.detail}"


@dataclass(frozen=True)
class QualityRun:
    """Every result of one run."""

    run_id: uuid.UUID
    checked_at: datetime
    results: tuple[CheckResult, ...]

    def failures(
        self, severity: Severity | None = None, table: str | None = None
    ) -> list[CheckResult]:
        """The failed results, of one severity and one table when given."""
        return [
            r
            for r in self.results
            if r.failed
            and (severity is None or r.expectation.severity == severity)
            and (table is None or r.expectation.table == table)
        ]

    def summary(self) -> str:
        """One line: how many expectations passed, failed (per severity) and were skipped."""
        passed = sum(r.passed is True for r in self.results)
        skipped = sum(r.passed is None for r in self.results)
        critical, warning = len(self.failures("critical")), len(self.failures("warning"))
        return (
            f"quality run {self.run_id}: {len(self.results)} expectations, {passed} passed, "
            f"{critical} critical failed, {warning} warning failed, {skipped} not run"
        )


def select(
    layer: str | None = None,
    tables: Iterable[str] | None = None,
    expectations: Iterable[Expectation] = EXPECTATIONS,
) -> list[Expectation]:
    """The expectations of ``layer`` and of ``tables`` (``gold.daily_sales``, or a bare name
    such as ``daily_sales`` matching any layer), all by default."""
    wanted = set(tables or ())
    chosen = [
        e
        for e in expectations
        if (layer is None or e.layer == layer)
        and (not wanted or e.table in wanted or e.table.split(".", 1)[1] in wanted)
    ]
    if not chosen:
        raise QualityError(
            f"no expectation for layer {layer or 'any'} and tables {sorted(wanted) or 'any'}"
        )
    return chosen


def _outcome(
    expectation: Expectation,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    sql: str,
    table_version: int | None = None,
) -> CheckResult:
    failing = int(rows[0][0]) if rows else 0
    sample = tuple(dict(zip(columns[1:], row[1:], strict=True)) for row in rows)
    detail = describe_failure(expectation, failing, sample) if failing else ""
    return CheckResult(expectation, failing == 0, failing, sample, detail, sql, table_version)


def lake_versions(settings: Settings, secrets: Secrets, tables: Iterable[str]) -> dict[str, int]:
    """The current Delta version of each lake table that exists."""
    versions = {}
    for table in dict.fromkeys(tables):
        layer, name = table.split(".", 1)
        try:
            versions[table] = delta_table(settings, secrets, TableRef(layer, name)).version()
        except QueryError as exc:
            log.debug("%s", exc)
    return versions


def check_lake(
    expectation: Expectation,
    settings: Settings,
    secrets: Secrets,
    versions: Mapping[str, int],
    now: datetime,
) -> CheckResult:
    """One lake expectation on DuckDB; a single-table check reads ``versions[table]``."""
    sql = to_sql(expectation, now=now)
    missing = [t for t in expectation.tables if t not in versions]
    if missing:
        return CheckResult(expectation, None, None, (), f"no table {', '.join(missing)}", sql)
    version = versions[expectation.table]
    as_of = version if expectation.parent is None else None
    try:
        result = run_duckdb(sql, settings, secrets, as_of)
    except (QueryError, DeltaError) as exc:
        return CheckResult(expectation, False, None, (), f"could not run: {exc}", sql, version)
    table = pa.table(result)  # any Arrow C stream: pyarrow's or arro3's table
    rows = [tuple(row.values()) for row in table.to_pylist()]
    return _outcome(expectation, table.column_names, rows, sql, version)


def check_warehouse(
    expectation: Expectation, conn: psycopg.Connection, now: datetime
) -> CheckResult:
    """One warehouse expectation, in a transaction of its own on ``conn`` (autocommit)."""
    sql = to_sql(expectation, now=now)
    try:
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(sql)  # type: ignore[arg-type]
            columns = [c.name for c in cursor.description or []]
            rows = cursor.fetchall()
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0]
        return CheckResult(expectation, False, None, (), f"could not run: {reason}", sql)
    return _outcome(expectation, columns, rows, sql)


def store(conn: psycopg.Connection, run: QualityRun) -> None:
    """One row per result in ``ops.quality_results``, in one transaction."""
    dumps = partial(json.dumps, default=str, ensure_ascii=False)
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(
            INSERT_RESULT,
            [
                (
                    run.run_id, run.checked_at, r.expectation.layer, r.expectation.table,
                    r.expectation.name, r.expectation.kind, r.expectation.severity, r.passed,
                    r.failing_rows, Jsonb(list(r.sample), dumps=dumps), r.detail, r.sql,
                    r.table_version,
                )
                for r in run.results
            ],
        )  # fmt: skip


def run_quality(
    settings: Settings,
    secrets: Secrets,
    expectations: Sequence[Expectation],
    *,
    versions: Mapping[str, int] | None = None,
) -> QualityRun:
    """Run ``expectations`` and store their results. Lake tables are read at ``versions``
    (default: their current versions; a table missing from a given mapping counts as absent)."""
    run_id, now = uuid.uuid4(), datetime.now(UTC)
    lake = [e for e in expectations if e.layer != "warehouse"]
    if versions is None:
        versions = lake_versions(settings, secrets, (t for e in lake for t in e.tables))
    with ThreadPoolExecutor(LAKE_WORKERS) as pool:  # each check: its own log read and DuckDB
        checked = pool.map(lambda e: check_lake(e, settings, secrets, versions, now), lake)
        results: dict[Expectation, CheckResult] = dict(zip(lake, checked, strict=True))
    with connect_loader(settings, secrets) as conn:
        for e in expectations:
            if e.layer == "warehouse":
                results[e] = check_warehouse(e, conn, now)
        run = QualityRun(run_id, now, tuple(results[e] for e in expectations))
        store(conn, run)
    for result in run.failures():
        log.debug("%s", result.line)
    log.debug("%s", run.summary())
    return run


def quality_command(layer: str | None = None, tables: Sequence[str] | None = None) -> int:
    """``lakehouse batch quality``: print each failure and a summary; a critical failure is an
    error (exit status 1), warnings are not."""
    if layer is not None and layer not in LAYERS:
        raise QualityError(f"--layer is one of {', '.join(LAYERS)}")
    settings = get_settings()
    run = run_quality(settings, load_secrets(settings), select(layer, tables))
    not_run: dict[str, str] = {}
    for result in run.results:
        if result.failed:
            print(result.line)
        elif result.passed is None:
            not_run.setdefault(result.expectation.table, result.detail)
    for table, reason in not_run.items():
        print(f"{'NOT RUN':<8} {table}: {reason}")
    print(run.summary())
    critical = run.failures("critical")
    if critical:
        tables_hit = sorted({r.expectation.table for r in critical})
        raise QualityError(
            f"{len(critical)} critical expectation(s) failed on {', '.join(tables_hit)} "
            f"(see ops.quality_results, run {run.run_id})"
        )
    return 0
