"""Declarative data-quality expectations (pure, no I/O).

An :class:`Expectation` states one property of one table: its key columns are present
(``not_null``) and unique (``unique``), a number lies in a range (``in_range``), a column takes
only known values (``accepted_values``), child rows find their parent (``references``), the
newest row is recent (``freshness``). Each compiles to ONE SQL query that runs unchanged on
DuckDB (lake tables, named ``silver.<entity>`` / ``gold.<table>``) and on PostgreSQL (warehouse
tables, ``dw.<table>``). The query returns at most :data:`SAMPLE_SIZE` failing rows, each
carrying the total count of failing rows in its first column ``failing_rows``; no row means
the expectation holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Severity = Literal["critical", "warning"]
Kind = Literal["not_null", "unique", "in_range", "accepted_values", "references", "freshness"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning")
SAMPLE_SIZE = 5

_TABLE = re.compile(r"^(silver|gold|dw)\.[a-z_][a-z0-9_]*$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LAYER_OF_SCHEMA = {"silver": "silver", "gold": "gold", "dw": "warehouse"}


@dataclass(frozen=True)
class Expectation:
    """One property of ``table`` (``silver.<entity>``, ``gold.<table>`` or ``dw.<table>``).

    ``columns``: the columns checked. ``sample_columns``: the columns shown for each failing
    row besides them (usually the table's key). Kind-specific: ``minimum``/``maximum``
    (in_range, inclusive), ``values`` (accepted_values), ``parent``/``parent_columns``
    (references), ``max_age_hours`` (freshness)."""

    table: str
    kind: Kind
    columns: tuple[str, ...]
    severity: Severity = "critical"
    sample_columns: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    values: tuple[str | int, ...] = ()
    parent: str | None = None
    parent_columns: tuple[str, ...] = ()
    max_age_hours: float | None = None

    def __post_init__(self) -> None:
        for table in (self.table, *([self.parent] if self.parent else [])):
            if not _TABLE.match(table):
                raise ValueError(f"{table!r}: expected silver.<name>, gold.<name> or dw.<name>")
        for column in (*self.columns, *self.sample_columns, *self.parent_columns):
            if not _COLUMN.match(column):
                raise ValueError(f"{self.table}: bad column name {column!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"{self.table}: severity is one of {SEVERITIES}")
        if not self.columns:
            raise ValueError(f"{self.table}: {self.kind} needs at least one column")
        single = self.kind in ("in_range", "accepted_values", "freshness")
        problems = {
            "single column": single and len(self.columns) != 1,
            "minimum or maximum": self.kind == "in_range"
            and self.minimum is None
            and self.maximum is None,
            "values": self.kind == "accepted_values" and not self.values,
            "parent columns, one per column": self.kind == "references"
            and (self.parent is None or len(self.parent_columns) != len(self.columns)),
            "max_age_hours": self.kind == "freshness" and not self.max_age_hours,
        }
        missing = [what for what, wrong in problems.items() if wrong]
        if missing:
            raise ValueError(f"{self.table}: {self.kind} needs {', '.join(missing)}")
        if self.parent and self.layer != layer_of(self.parent):
            raise ValueError(f"{self.table}: references stay within one engine ({self.parent})")

    @property
    def layer(self) -> str:
        """``silver``, ``gold`` or ``warehouse``."""
        return layer_of(self.table)

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table the query reads."""
        return (self.table, self.parent) if self.parent else (self.table,)

    @property
    def name(self) -> str:
        """A readable name, unique within the table: ``unique(sale_date, state, category)``."""
        columns = ", ".join(self.columns)
        if self.kind == "in_range":
            return f"in_range({_range_text(self.columns[0], self.minimum, self.maximum)})"
        if self.kind == "references":
            target = f"{self.parent}({', '.join(self.parent_columns)})"
            return f"references({columns} -> {target})"
        if self.kind == "freshness":
            return f"freshness({columns} within {self.max_age_hours:g} h)"
        return f"{self.kind}({columns})"


def layer_of(table: str) -> str:
    """The layer of a table name: ``dw.*`` is the warehouse."""
    return _LAYER_OF_SCHEMA[table.split(".", 1)[0]]


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def not_null(
    table: str, columns: Sequence[str], *, severity: Severity = "critical",
    sample: Sequence[str] = (),
) -> Expectation:  # fmt: skip
    """No row has a null in any of ``columns``."""
    return Expectation(table, "not_null", tuple(columns), severity, tuple(sample))


def unique(table: str, columns: Sequence[str], *, severity: Severity = "critical") -> Expectation:
    """No two rows share the values of ``columns`` (a null counts as a value)."""
    return Expectation(table, "unique", tuple(columns), severity)


def in_range(
    table: str, column: str, *, minimum: float | None = None, maximum: float | None = None,
    severity: Severity = "warning", sample: Sequence[str] = (),
) -> Expectation:  # fmt: skip
    """``minimum <= column <= maximum`` (either bound optional; nulls pass)."""
    return Expectation(
        table, "in_range", (column,), severity, tuple(sample), minimum=minimum, maximum=maximum
    )


def accepted_values(
    table: str, column: str, values: Iterable[str | int], *, severity: Severity = "warning",
    sample: Sequence[str] = (),
) -> Expectation:  # fmt: skip
    """``column`` is one of ``values`` (nulls pass)."""
    return Expectation(
        table, "accepted_values", (column,), severity, tuple(sample), values=tuple(values)
    )


def references(
    table: str, columns: Sequence[str], parent: str, parent_columns: Sequence[str] | None = None,
    *, severity: Severity = "warning", sample: Sequence[str] = (),
) -> Expectation:  # fmt: skip
    """Every row whose ``columns`` are all set finds a row of ``parent`` with those values in
    ``parent_columns`` (default: the same names)."""
    return Expectation(
        table, "references", tuple(columns), severity, tuple(sample), parent=parent,
        parent_columns=tuple(parent_columns or columns),
    )  # fmt: skip


def freshness(
    table: str, column: str, *, max_age_hours: float, severity: Severity = "warning"
) -> Expectation:
    """The newest ``column`` (a timestamp) is at most ``max_age_hours`` old; an empty table
    fails."""
    return Expectation(table, "freshness", (column,), severity, max_age_hours=max_age_hours)


# ---------------------------------------------------------------- SQL


def _ident(column: str, alias: str | None = None) -> str:
    return f'{alias}."{column}"' if alias else f'"{column}"'


def _literal(value: str | int | float) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _timestamp(moment: datetime) -> str:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return f"CAST('{moment.isoformat(sep=' ')}' AS TIMESTAMP WITH TIME ZONE)"


def _range_text(column: str, minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{column} between {minimum:g} and {maximum:g}"
    return f"{column} >= {minimum:g}" if minimum is not None else f"{column} <= {maximum:g}"


def _sampled(failing_cte: str, columns: Sequence[str], order_by: Sequence[str]) -> str:
    """The final query over a ``failing`` CTE: the count beside the first rows' ``columns``."""
    order = f"\nORDER BY {', '.join(order_by)}" if order_by else ""
    return (
        f"WITH {failing_cte}\n"
        f"SELECT count(*) OVER () AS failing_rows,\n       {', '.join(columns)}\n"
        f"FROM failing{order}\n"
        f"LIMIT {SAMPLE_SIZE}"
    )


def to_sql(expectation: Expectation, *, now: datetime | None = None) -> str:
    """The expectation's query (see the module's docstring); ``now`` is the reference time of
    ``freshness`` (default: the current time)."""
    e = expectation
    shown = _unique((*e.sample_columns, *e.columns))
    select = ",\n           ".join(_ident(c) for c in shown)
    shown_idents = [_ident(c) for c in shown]
    if e.kind == "not_null":
        condition = " OR ".join(f"{_ident(c)} IS NULL" for c in e.columns)
        cte = f"failing AS (\n    SELECT {select}\n    FROM {e.table}\n    WHERE {condition}\n)"
        return _sampled(cte, shown_idents, shown_idents)
    if e.kind == "unique":
        key = ", ".join(_ident(c) for c in e.columns)
        cte = (
            f"keys AS (\n    SELECT {key},\n           count(*) AS copies\n"
            f"    FROM {e.table}\n    GROUP BY {key}\n),\n"
            f"failing AS (\n    SELECT {key},\n           copies\n    FROM keys\n"
            "    WHERE copies > 1\n)"
        )
        key_columns = [_ident(c) for c in e.columns]
        return _sampled(cte, [*key_columns, "copies"], ["copies DESC", *key_columns])
    if e.kind in ("in_range", "accepted_values"):
        column = _ident(e.columns[0])
        if e.kind == "accepted_values":
            condition = f"{column} NOT IN ({', '.join(_literal(v) for v in e.values)})"
        else:
            bounds = []
            if e.minimum is not None:
                bounds.append(f"{column} < {_literal(e.minimum)}")
            if e.maximum is not None:
                bounds.append(f"{column} > {_literal(e.maximum)}")
            condition = " OR ".join(bounds)
        cte = f"failing AS (\n    SELECT {select}\n    FROM {e.table}\n    WHERE {condition}\n)"
        return _sampled(cte, shown_idents, shown_idents)
    if e.kind == "references":
        child_select = ",\n           ".join(_ident(c, "child") for c in shown)
        present = " AND ".join(f"{_ident(c, 'child')} IS NOT NULL" for c in e.columns)
        match = " AND ".join(
            f"{_ident(p, 'parent')} = {_ident(c, 'child')}"
            for c, p in zip(e.columns, e.parent_columns, strict=True)
        )
        cte = (
            f"failing AS (\n    SELECT {child_select}\n    FROM {e.table} AS child\n"
            f"    WHERE {present}\n      AND NOT EXISTS (\n"
            f"          SELECT 1\n          FROM {e.parent} AS parent\n"
            f"          WHERE {match}\n      )\n)"
        )
        return _sampled(cte, shown_idents, shown_idents)
    if e.kind == "freshness":
        assert e.max_age_hours is not None
        cutoff = (now or datetime.now(UTC)) - timedelta(hours=e.max_age_hours)
        cte = (
            f"latest AS (\n    SELECT max({_ident(e.columns[0])}) AS newest\n"
            f"    FROM {e.table}\n),\n"
            "failing AS (\n    SELECT newest\n    FROM latest\n"
            f"    WHERE newest IS NULL OR newest < {_timestamp(cutoff)}\n)"
        )
        return _sampled(cte, ["newest"], [])
    raise ValueError(f"unknown expectation kind {e.kind!r}")


# ---------------------------------------------------------------- reasons


def _values(row: Mapping[str, Any], columns: Sequence[str]) -> str:
    shown = [str(row.get(c)) for c in columns]
    return shown[0] if len(shown) == 1 else f"({', '.join(shown)})"


def describe_failure(
    expectation: Expectation, failing_rows: int, sample: Sequence[Mapping[str, Any]]
) -> str:
    """Why the expectation failed, with a few of the failing keys: ``3 duplicate keys, e.g.
    (2017-03-31, SP, beleza_saude) x2``."""
    e = expectation
    plural = "" if failing_rows == 1 else "s"
    shown = _unique((*e.sample_columns, *e.columns))
    if e.kind == "freshness":
        newest = sample[0].get("newest") if sample else None
        if newest is None:
            return f"{e.table} has no {e.columns[0]}: the table is empty"
        return f"newest {e.columns[0]} is {newest}, older than {e.max_age_hours:g} h"
    if e.kind == "unique":
        examples = ", ".join(f"{_values(r, e.columns)} x{r.get('copies')}" for r in sample)
        what = f"{failing_rows} duplicate key{plural}"
    elif e.kind == "not_null":
        examples = ", ".join(_values(r, shown) for r in sample)
        what = f"{failing_rows} row{plural} with a null in {', '.join(e.columns)}"
    elif e.kind == "in_range":
        examples = ", ".join(_values(r, shown) for r in sample)
        what = (
            f"{failing_rows} row{plural} outside {_range_text(e.columns[0], e.minimum, e.maximum)}"
        )
    elif e.kind == "accepted_values":
        examples = ", ".join(_values(r, shown) for r in sample)
        what = f"{failing_rows} row{plural} with {e.columns[0]} not among the accepted values"
    else:
        examples = ", ".join(_values(r, shown) for r in sample)
        what = f"{failing_rows} row{plural} without a match in {e.parent}"
    return f"{what}, e.g. {examples}" if examples else what
