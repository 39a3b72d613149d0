"""What ``lakehouse query``'s fast path reads of each lake table a query names: the columns
it refers to and, when the table is the query's one FROM item, the simple filters of its
WHERE clause, both worked out from DuckDB's own parse of the query (``json_serialize_sql``).
A plan only narrows the read: DuckDB still runs the whole query on what is read."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

    from batch.query import TableRef


@dataclass(frozen=True)
class Scan:
    """What the fast path reads of one lake table: ``columns`` (None: all), the rows matching
    ``predicate`` (DataFusion SQL; None: all), as a stream DuckDB scans once (``stream``) or
    copied into a DuckDB table. Only a narrowing: DuckDB still runs the whole query on it."""

    columns: list[str] | None = None
    predicate: str | None = None
    stream: bool = False


_COMPARE = {"EQUAL": "=", "NOTEQUAL": "<>", "LESSTHAN": "<", "GREATERTHAN": ">"}
_COMPARE |= {"LESSTHANOREQUALTO": "<=", "GREATERTHANOREQUALTO": ">="}
_INTS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT"}
_LITERALS = {"string": {"VARCHAR"}, **dict.fromkeys(("byte", "short", "integer", "long"), _INTS)}
# FROM items and joins that refer to no column by implication (unlike NATURAL, PIVOT,
# DESCRIBE, or a table function that may read a lake table by a name built at run time).
_PLAIN_FROM = {"BASE_TABLE", "JOIN", "SUBQUERY", "EMPTY", "EXPRESSION_LIST"}
_PLAIN_JOINS = {"REGULAR", "CROSS", "ASOF", "POSITIONAL", "DEPENDENT"}


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``tree``."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _parse(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any] | None:
    """DuckDB's parse tree of ``sql`` when it is one SELECT, else None."""
    import duckdb

    try:
        quoted = sql.replace("'", "''")  # a literal, not a parameter: those import pandas
        row = con.sql(f"SELECT json_serialize_sql('{quoted}')").fetchone()
    except duckdb.Error:
        return None
    tree = json.loads(row[0]) if row else {}
    statements = tree.get("statements") or []
    return None if tree.get("error") or len(statements) != 1 else statements[0]["node"]


def plan_scans(
    con: duckdb.DuckDBPyConnection, sql: str, types: dict[TableRef, dict[str, str]]
) -> dict[TableRef, Scan]:
    """What to read of each table (``types``: its columns' Delta types) for ``sql``: the
    columns it names unless it refers to some by implication (``*``, a whole row, NATURAL
    JOIN, ...); rows filtered only when the table is the query's one FROM item; a stream
    when nothing may scan the table twice."""
    root = _parse(con, sql)
    if root is None:
        return {ref: Scan() for ref in types}
    nodes = list(_nodes(root))
    sources = [n for n in nodes if "class" not in n and "sample" in n and "alias" in n]
    bases = [n for n in sources if n.get("type") == "BASE_TABLE"]
    refs = [n["column_names"] for n in nodes if n.get("class") == "COLUMN_REF"]
    named = {p.lower() for parts in refs for p in parts}
    named |= {c.lower() for n in nodes for c in n.get("using_columns") or []}
    rows = {n["alias"].lower() for n in sources if n["alias"]}
    rows |= {n["table_name"].lower() for n in bases}
    plain = all(
        n.get("type") in _PLAIN_FROM
        and not n.get("column_name_alias")
        and n.get("ref_type", "REGULAR") in _PLAIN_JOINS
        for n in sources
    )
    projected = plain and not any(n.get("class") == "STAR" for n in nodes)
    projected = projected and not any(parts[-1].lower() in rows for parts in refs)
    ctes = any((n.get("cte_map") or {}).get("map") for n in nodes)
    plans = {}
    for ref, columns in types.items():
        key = (ref.layer, ref.name.lower())
        mentions = [n for n in bases if (n["schema_name"].lower(), n["table_name"].lower()) == key]
        once = (
            plain
            and len(mentions) == 1
            and len(re.findall(rf"\b{re.escape(str(ref))}\b", sql)) == 1
        )
        only = once and root.get("type") == "SELECT_NODE" and root["from_table"] is mentions[0]
        needed = [c for c in columns if c.lower() in named] or list(columns)[:1]
        plans[ref] = Scan(
            columns=needed if projected and len(needed) < len(columns) else None,
            predicate=_predicate(root, mentions[0], columns) if only else None,
            stream=once and not ctes,
        )
    return plans


def _predicate(select: dict[str, Any], source: dict[str, Any], types: dict[str, str]) -> str | None:
    """The WHERE conjuncts of ``select`` that DataFusion evaluates as DuckDB does (a string or
    integer column against literals of its kind), as DataFusion SQL; None if there are none."""
    if source.get("at_clause") is not None:
        return None
    table = [source["schema_name"].lower(), source["table_name"].lower()]
    qualifiers = [[source["alias"].lower()]] if source["alias"] else [table[1:], table]
    parts, pending = [], [select.get("where_clause")]
    while pending:
        expr = pending.pop()
        if expr and expr.get("type") == "CONJUNCTION_AND":
            pending.extend(reversed(expr["children"]))
        elif expr and (part := _condition(expr, qualifiers, types)):
            parts.append(part)
    return " AND ".join(parts) or None


def _condition(
    expr: dict[str, Any], qualifiers: list[list[str]], types: dict[str, str]
) -> str | None:
    """``expr`` in DataFusion SQL if it compares a column with literals of the column's kind."""
    kind = expr.get("type", "").removeprefix("COMPARE_")
    if expr.get("class") == "COMPARISON" and kind in _COMPARE:
        operands = [expr["left"], expr["right"]]
    elif expr.get("class") == "OPERATOR" and kind == "IN":
        operands = expr["children"]
    else:
        return None
    name = _column(operands[0], qualifiers, types)
    literals = [_literal(v, types[name]) for v in operands[1:]] if name else []
    if not literals or None in literals:
        return None
    if kind == "IN":
        return f'"{name}" IN ({", ".join(map(str, literals))})'
    return f'"{name}" {_COMPARE[kind]} {literals[0]}'


def _column(expr: dict[str, Any], qualifiers: list[list[str]], types: dict[str, str]) -> str | None:
    """The table column ``expr`` refers to, by its exact name; None if it is something else."""
    if expr.get("class") != "COLUMN_REF":
        return None
    *qualifier, name = expr["column_names"]
    if qualifier and [q.lower() for q in qualifier] not in qualifiers:
        return None
    matches = [c for c in types if c.lower() == name.lower()]
    return matches[0] if len(matches) == 1 and '"' not in matches[0] else None


def _literal(expr: dict[str, Any], column_type: str) -> str | None:
    """``expr`` as a DataFusion literal if it is a constant of ``column_type``'s kind."""
    value = expr.get("value") if expr.get("class") == "CONSTANT" else None
    if not value or value["is_null"] or value["type"]["id"] not in _LITERALS.get(column_type, ()):
        return None
    if isinstance(value["value"], str):
        return "'" + value["value"].replace("'", "''") + "'"
    return str(value["value"]) if type(value["value"]) is int else None
