"""``lakehouse batch promote``: copy gold's tables into the warehouse (``dw.agg_<table>``), each
only when its critical expectations pass.

For each gold table: note its current Delta version, run its expectations on that version (one
quality run for all the tables asked for, stored in ``ops.quality_results``), then either
replace ``dw.agg_<table>`` with that version's rows in ONE transaction (delete, COPY, and the
decision's row in ``etl.promotion``), or refuse: the previous warehouse copy stays, and the
reason is printed and stored in ``etl.promotion``. Warning failures do not block. One refused
table does not stop the others; the command then exits non-zero. A gold table that does not
exist yet is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import psycopg
import pyarrow as pa
from psycopg import sql

from batch.catalogue import GOLD
from batch.quality import QualityRun, lake_versions, run_quality, select
from batch.query import TableRef, delta_table
from lakehouse.errors import LakehouseError
from lakehouse.settings import Secrets, Settings, get_settings, load_secrets
from warehouse.sink import connect_loader, csv_bytes

log = logging.getLogger(__name__)

GOLD_TABLES = ("daily_sales", "monthly_gmv", "sales_weather")

RECORD_DECISION = """
INSERT INTO etl.promotion (table_name, delta_version, promoted, rows, quality_run_id, reason)
VALUES (%s, %s, %s, %s, %s, %s)
"""
WAREHOUSE_COLUMNS = """
SELECT column_name
FROM information_schema.columns
WHERE table_schema = 'dw' AND table_name = %s
ORDER BY ordinal_position
"""


class PromotionRefused(LakehouseError):
    """At least one gold table was not promoted; the message says which and why."""


@dataclass(frozen=True)
class Promotion:
    """The decision for one gold table: ``promoted``, ``refused`` (``reason`` says why) or
    ``skipped`` (the table does not exist yet: nothing to promote, nothing recorded)."""

    table: str  # gold.<name>
    outcome: Literal["promoted", "refused", "skipped"]
    delta_version: int | None = None
    rows: int | None = None
    reason: str = ""

    @property
    def promoted(self) -> bool:
        return self.outcome == "promoted"

    @property
    def line(self) -> str:
        if self.outcome == "promoted":
            return (
                f"{self.table} promoted: version {self.delta_version}, {self.rows} rows "
                f"-> {warehouse_table(self.table)}"
            )
        if self.outcome == "skipped":
            return f"{self.table} skipped: {self.reason}"
        return f"{self.table} not promoted: {self.reason}"


def agg_name(gold_table: str) -> str:
    """``gold.daily_sales`` -> ``agg_daily_sales``, its copy's name in schema ``dw``."""
    return f"agg_{gold_table.split('.', 1)[1]}"


def warehouse_table(gold_table: str) -> str:
    """``gold.daily_sales`` -> ``dw.agg_daily_sales``."""
    return f"dw.{agg_name(gold_table)}"


def refusal_reason(run: QualityRun, table: str) -> str:
    """Why ``table`` may not be promoted after ``run`` (empty when it may)."""
    return "; ".join(
        f"critical expectation {r.expectation.name} failed: {r.detail}"
        for r in run.failures("critical", table=table)
    )


def replace_copy(
    conn: psycopg.Connection, table: str, version: int, rows: pa.Table, run: QualityRun
) -> Promotion:
    """Replace ``table``'s warehouse copy with ``rows`` (its Delta ``version``) and record the
    promotion, in one transaction; concurrent promotions of the table wait for each other."""
    target = sql.Identifier("dw", agg_name(table))
    columns = sql.SQL(", ").join(map(sql.Identifier, rows.column_names))
    with conn.transaction():
        conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(target))
        conn.execute(sql.SQL("DELETE FROM {}").format(target))
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, columns)
        with conn.cursor().copy(copy_sql) as copy:
            copy.write(csv_bytes(rows))
        conn.execute(RECORD_DECISION, (table, version, True, rows.num_rows, run.run_id, ""))
    return Promotion(table, "promoted", version, rows.num_rows)


def refuse(
    conn: psycopg.Connection, table: str, version: int, reason: str, run: QualityRun
) -> Promotion:
    """Record that ``table`` was not promoted, and why; the warehouse copy is left as it is."""
    with conn.transaction():
        conn.execute(RECORD_DECISION, (table, version, False, None, run.run_id, reason))
    return Promotion(table, "refused", version, reason=reason)


def _schema_drift(conn: psycopg.Connection, table: str, rows: pa.Table) -> str:
    expected = [c for (c,) in conn.execute(WAREHOUSE_COLUMNS, (agg_name(table),)).fetchall()]
    if sorted(expected) == sorted(rows.column_names):
        return ""
    return (
        f"its columns {rows.column_names} differ from {warehouse_table(table)}'s {expected} "
        "(add a migration)"
    )


def _decide(
    conn: psycopg.Connection,
    settings: Settings,
    secrets: Secrets,
    table: str,
    version: int | None,
    run: QualityRun,
) -> Promotion:
    if version is None:
        return Promotion(table, "skipped", reason="no such table in the lake yet")
    reason = refusal_reason(run, table)
    if reason:
        return refuse(conn, table, version, reason, run)
    layer, name = table.split(".", 1)
    rows = delta_table(settings, secrets, TableRef(layer, name), version).to_pyarrow_table()
    drift = _schema_drift(conn, table, rows)
    if drift:
        return refuse(conn, table, version, drift, run)
    decision = replace_copy(conn, table, version, rows, run)
    log.debug("%s", decision.line)
    return decision


def promote(
    settings: Settings, secrets: Secrets, names: Sequence[str] = GOLD_TABLES
) -> tuple[QualityRun, list[Promotion]]:
    """Check and promote the gold tables ``names``; returns the quality run and the decisions."""
    unknown = sorted(set(names) - set(GOLD_TABLES))
    if unknown:
        raise LakehouseError(f"unknown gold table(s) {unknown}; expected {GOLD_TABLES}")
    tables = [f"gold.{n}" for n in dict.fromkeys(names)]
    versions = lake_versions(settings, secrets, tables)
    run = run_quality(
        settings, secrets, select(tables=tables, expectations=GOLD), versions=versions
    )
    with connect_loader(settings, secrets) as conn:
        decisions = [
            _decide(conn, settings, secrets, table, versions.get(table), run) for table in tables
        ]
    return run, decisions


def promote_command(names: Sequence[str] | None = None) -> int:
    """``lakehouse batch promote``: print each decision; any refusal is an error (exit 1)
    after the other tables were promoted."""
    settings = get_settings()
    run, decisions = promote(settings, load_secrets(settings), names or GOLD_TABLES)
    for result in run.failures("warning"):
        print(result.line)
    for decision in decisions:
        print(decision.line)
    refused = [d for d in decisions if d.outcome == "refused"]
    if refused:
        names = ", ".join(d.table for d in refused)
        raise PromotionRefused(f"not promoted: {names} (reasons above and in etl.promotion)")
    return 0
