"""The Grafana dashboards (``warehouse/grafana/dashboards/*.json``) as data: their panels and
SQL, the Grafana PostgreSQL macros and template variables expanded as Grafana expands them, and
a panel's query run against the warehouse (by the tests, and by reports that show the same
numbers outside Grafana)."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger(__name__)

DASHBOARDS_DIR = Path(__file__).parent / "grafana" / "dashboards"
DATASOURCE_UID = "lakehouse-warehouse"
ALL = ("$__all", "All")  # how Grafana (and a caller) name the "All" choice of a variable

# Grafana's own patterns: a macro's arguments hold no parenthesis; variables are $name,
# ${name}, ${name:format} and the deprecated [[name]] / [[name:format]].
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+)(?::(\w+))?\]\]|\$\{(\w+)(?::(\w+))?\}")
_INTERVAL = re.compile(r"^(\d+)(ms|s|m|h|d|w)$")
_UNIT = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


@dataclass(frozen=True)
class Variable:
    """A dashboard's query variable and its selection (``current``)."""

    name: str
    query: str = ""
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    current: tuple[str, ...] = ()


@dataclass(frozen=True)
class Panel:
    """One SQL target of a dashboard panel (``dashboard`` is the dashboard's uid)."""

    dashboard: str
    title: str
    sql: str
    format: str  # "table" or "time_series"
    panel_type: str = ""
    ref_id: str = "A"
    variables: tuple[Variable, ...] = field(default=(), repr=False)


def load_dashboards(directory: Path = DASHBOARDS_DIR) -> dict[str, dict[str, Any]]:
    """Every dashboard JSON of ``directory`` by uid; a missing or repeated uid is an error."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        dashboard = json.loads(path.read_text())
        uid = dashboard.get("uid")
        if not uid or uid in found:
            raise ValueError(f"{path.name}: dashboard uid {uid!r} missing or used twice")
        found[uid] = dashboard
    return found


def _walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for panel in panels:
        yield panel
        yield from _walk(panel.get("panels") or [])


def dashboard_variables(dashboard: Mapping[str, Any]) -> tuple[Variable, ...]:
    """The query variables of a dashboard with their saved selection."""
    variables = []
    for item in dashboard.get("templating", {}).get("list", []):
        if item.get("type") != "query":
            continue
        query = item.get("query", "")
        current = (item.get("current") or {}).get("value", [])
        variables.append(
            Variable(
                name=item["name"],
                query=query.get("rawSql", "") if isinstance(query, dict) else query,
                multi=bool(item.get("multi")),
                include_all=bool(item.get("includeAll")),
                all_value=item.get("allValue") or None,
                current=tuple(current) if isinstance(current, list) else (current,),
            )
        )
    return tuple(variables)


def panels(dashboards: Mapping[str, Mapping[str, Any]] | None = None) -> list[Panel]:
    """One Panel per SQL target of every panel of ``dashboards`` (default: all of them)."""
    if dashboards is None:
        dashboards = load_dashboards()
    found = []
    for uid, dashboard in dashboards.items():
        variables = dashboard_variables(dashboard)
        for panel in _walk(dashboard.get("panels", [])):
            for target in panel.get("targets") or []:
                if "rawSql" not in target:
                    continue
                found.append(
                    Panel(
                        dashboard=uid,
                        title=panel.get("title", ""),
                        sql=target["rawSql"],
                        format=target.get("format", "time_series"),
                        panel_type=panel.get("type", ""),
                        ref_id=target.get("refId", "A"),
                        variables=variables,
                    )
                )
    return found


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive one is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _rfc3339(moment: datetime) -> str:
    """As Go's ``time.RFC3339Nano`` prints a UTC time: no trailing zeros in the fraction."""
    moment = _utc(moment)
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def _unix(moment: datetime) -> int:
    return math.floor(_utc(moment).timestamp())


def _go_number(value: float) -> str:
    """``value`` as Go's ``%v`` prints a float64: shortest digits, exponent from 1e+06."""
    number = Decimal(repr(float(value))).normalize()
    exponent = number.adjusted()
    if -4 <= exponent < 6:
        return format(number, "f")
    digits = "".join(map(str, number.as_tuple().digits))
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"  # intervals: > 0


def _interval_seconds(text: str) -> str:
    match = _INTERVAL.match(text.strip().strip("'"))
    if not match:
        raise ValueError(f"unsupported interval {text!r} (use e.g. '30s', '5m', '1h', '1d')")
    return _go_number((int(match.group(1)) * _UNIT[match.group(2)]).total_seconds())


def _macro(name: str, args: list[str], time_from: datetime, time_to: datetime) -> str:
    """The SQL Grafana's PostgreSQL data source puts in place of ``$name(args)``."""
    column = args[0] if args and args[0] else None
    if name in {"__time", "__timeEpoch", "__timeFilter", "__unixEpochFilter"} and not column:
        raise ValueError(f"missing time column argument for macro {name}")
    if name in {"__timeGroup", "__timeGroupAlias", "__unixEpochGroup", "__unixEpochGroupAlias"}:
        if len(args) < 2:
            raise ValueError(f"macro {name} needs a time column and an interval")
        seconds = _interval_seconds(args[1])  # a third argument (fill) only shapes the plot
        alias = ' AS "time"' if name.endswith("Alias") else ""
        if name.startswith("__timeGroup"):
            return f"floor(extract(epoch from {column})/{seconds})*{seconds}{alias}"
        return f"floor(({column})/{seconds})*{seconds}{alias}"
    start, end = _rfc3339(time_from), _rfc3339(time_to)
    expansions = {
        "__time": lambda: f'{column} AS "time"',
        "__timeEpoch": lambda: f'extract(epoch from {column}) as "time"',
        "__timeFilter": lambda: f"{column} BETWEEN '{start}' AND '{end}'",
        "__timeFrom": lambda: f"'{start}'",
        "__timeTo": lambda: f"'{end}'",
        "__unixEpochFilter": lambda: (
            f"{column} >= {_unix(time_from)} AND {column} <= {_unix(time_to)}"
        ),
        "__unixEpochFrom": lambda: str(_unix(time_from)),
        "__unixEpochTo": lambda: str(_unix(time_to)),
    }
    if name not in expansions:
        raise ValueError(f"unknown macro ${name}")
    return expansions[name]()


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _as_variable(name: str, given: Variable | str | Sequence[str]) -> Variable:
    if isinstance(given, Variable):
        return given
    if isinstance(given, str):
        return Variable(name, current=(given,))
    return Variable(name, multi=True, current=tuple(given))


def _interpolate(variable: Variable, fmt: str | None) -> str:
    """The variable's selection as Grafana's SQL data sources write it into a query."""
    values = list(variable.current)
    if len(values) == 1 and values[0] in ALL:
        if not variable.include_all:
            raise ValueError(f"variable {variable.name} has no All choice")
        if variable.all_value is None:
            raise ValueError(f"variable {variable.name}: All needs an allValue to expand")
        return variable.all_value  # a custom all value goes in as written, whatever the format
    if fmt in ("raw", "csv"):
        return ",".join(values)
    if fmt == "sqlstring":
        return ",".join(_quote(v) for v in values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt is not None:
        raise ValueError(f"unsupported variable format {fmt!r} for {variable.name}")
    if variable.multi or variable.include_all or len(values) != 1:
        return ",".join(_quote(v) for v in values)
    return values[0].replace("'", "''")


def expand_variables(sql: str, variables: Mapping[str, Variable | str | Sequence[str]]) -> str:
    """``sql`` with the given template variables replaced; unknown names are left as they are
    (Grafana's global ``$__`` names among them)."""
    known = {name: _as_variable(name, given) for name, given in variables.items()}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(5)
        if name not in known:
            return match.group(0)
        return _interpolate(known[name], fmt)

    return _VARIABLE.sub(substitute, sql)


def expand_macros(
    sql: str,
    time_from: datetime,
    time_to: datetime,
    variables: Mapping[str, Variable | str | Sequence[str]] | None = None,
) -> str:
    """``sql`` as Grafana sends it to PostgreSQL for the range ``time_from``..``time_to``:
    template variables first (a Variable's ``current`` selection, or a plain value or list of
    values), then the ``$__`` macros."""
    sql = expand_variables(sql, variables or {})

    def evaluate(match: re.Match[str]) -> str:
        name = match.group(1)
        # As Grafana does: $__timeGroup directly followed by a comma is aliased "time".
        if name == "__timeGroup" and sql[match.end() : match.end() + 1] == ",":
            name = "__timeGroupAlias"
        args = [arg.strip() for arg in match.group(2).split(",")]
        return _macro(name, args, time_from, time_to)

    return _MACRO.sub(evaluate, sql)


def run_panel(
    conn: psycopg.Connection,
    panel: Panel,
    time_from: datetime,
    time_to: datetime,
    variables: Mapping[str, Variable | str | Sequence[str]] | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a panel's query (its dashboard's saved variable selections, overridden by
    ``variables``) in a transaction of its own; returns the column names and the rows."""
    chosen: dict[str, Variable | str | Sequence[str]] = {v.name: v for v in panel.variables}
    for name, given in (variables or {}).items():
        saved = chosen.get(name)
        if isinstance(saved, Variable) and not isinstance(given, Variable):
            given = replace(saved, current=(given,) if isinstance(given, str) else tuple(given))
        chosen[name] = given
    query = expand_macros(panel.sql, time_from, time_to, chosen)
    log.debug("panel %s / %s: %s", panel.dashboard, panel.title, query)
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(query)  # type: ignore[arg-type]
        columns = [column.name for column in cursor.description or []]
        return columns, cursor.fetchall()
