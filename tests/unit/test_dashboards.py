"""The Grafana dashboards as files: valid, one uid each, every panel on the warehouse data source
reading only the dashboard views; and the Grafana PostgreSQL macros and template variables
expanded exactly as Grafana expands them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
import yaml

from lakehouse.settings import project_root
from warehouse.dashboards import (
    DASHBOARDS_DIR,
    DATASOURCE_UID,
    Variable,
    dashboard_variables,
    expand_macros,
    load_dashboards,
    panels,
)
from warehouse.migrate import MIGRATIONS_DIR

pytestmark = pytest.mark.unit

FILES = {
    "executive-kpis",
    "sales-by-state-category",
    "macro-correlation",
    "weather",
    "pipeline-health",
}
_RELATION = re.compile(r"\b(?:FROM|JOIN)\s+([\w.\"]+|\()", re.IGNORECASE)
_VIEW = re.compile(r"CREATE VIEW (dashboard\.\w+)", re.IGNORECASE)
FROM_ = datetime(2017, 3, 1, tzinfo=UTC)
TO = datetime(2017, 4, 1, 12, 30, 0, 500000, tzinfo=UTC)


def _relations(sql: str) -> set[str]:
    return {name for name in _RELATION.findall(sql) if name != "("}


def _dashboard_views() -> set[str]:
    return {v for path in MIGRATIONS_DIR.glob("*.sql") for v in _VIEW.findall(path.read_text())}


def _all_panels(items: list[dict]) -> list[dict]:
    return [p for item in items for p in [item, *_all_panels(item.get("panels") or [])]]


def test_every_dashboard_is_valid_json_with_a_uid_of_its_own() -> None:
    paths = sorted(DASHBOARDS_DIR.glob("*.json"))
    assert {p.stem for p in paths} == FILES
    uids = [json.loads(p.read_text())["uid"] for p in paths]
    assert len(set(uids)) == len(uids) == len(load_dashboards())
    for uid, dashboard in load_dashboards().items():
        assert dashboard["schemaVersion"] >= 39, uid
        assert dashboard["title"] and dashboard["time"]["to"] == "now", uid
        if uid == "lakehouse-pipeline-health":
            assert dashboard["time"]["from"] == "now-6h"
        else:  # the sales dashboards open on every order: Olist's start in September 2016
            start = datetime.fromisoformat(dashboard["time"]["from"].replace("Z", "+00:00"))
            assert start <= datetime(2016, 9, 4, tzinfo=UTC), uid
        items = _all_panels(dashboard["panels"])
        assert len({p["id"] for p in items}) == len(items), uid
        titles = [p["title"] for p in items]
        assert len(set(titles)) == len(titles), uid


def test_every_panel_queries_the_warehouse_with_raw_sql() -> None:
    for uid, dashboard in load_dashboards().items():
        for panel in _all_panels(dashboard["panels"]):
            assert panel["datasource"]["uid"] == DATASOURCE_UID, (uid, panel["title"])
            assert panel["targets"], (uid, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == DATASOURCE_UID, (uid, panel["title"])
                assert target["rawQuery"] is True and target["rawSql"].strip()
                assert target["format"] in {"table", "time_series"}, (uid, panel["title"])


def test_every_panel_reads_only_existing_dashboard_views() -> None:
    views = _dashboard_views()
    assert "dashboard.kpi_daily" in views and "dashboard.stream_batches" in views
    found = panels()
    assert len(found) >= 30
    for panel in found:
        relations = _relations(panel.sql)
        assert relations, (panel.dashboard, panel.title)
        assert relations <= views, (panel.dashboard, panel.title, relations - views)


def test_time_series_return_a_time_column() -> None:
    for panel in panels():
        if panel.format == "time_series":
            expanded = expand_macros(panel.sql, FROM_, TO)
            assert re.search(r'\bAS "time"', expanded), (panel.dashboard, panel.title)
            assert "ORDER BY 1" in panel.sql, (panel.dashboard, panel.title)


def test_the_state_variable_reads_the_geography_dimension() -> None:
    (variable,) = dashboard_variables(load_dashboards()["lakehouse-weather"])
    assert variable.name == "state" and variable.include_all and variable.multi
    assert variable.current == ("$__all",)
    assert _relations(variable.query) == {"dw.dim_geography"}
    assert _relations(variable.all_value or "") == {"dw.dim_geography"}
    weather = [p for p in panels() if p.dashboard == "lakehouse-weather"]
    assert weather and all("IN ($state)" in p.sql for p in weather)


def test_grafana_provisions_the_dashboards_folder_compose_mounts() -> None:
    root = project_root()
    provider = yaml.safe_load(
        (root / "warehouse/grafana/provisioning/dashboards/lakehouse.yaml").read_text()
    )
    (entry,) = provider["providers"]
    assert entry["type"] == "file" and entry["folder"] == "Lakehouse"
    volumes = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]["grafana"][
        "volumes"
    ]
    assert f"./warehouse/grafana/dashboards:{entry['options']['path']}:ro" in volumes
    datasources = yaml.safe_load(
        (root / "warehouse/grafana/provisioning/datasources/warehouse.yaml").read_text()
    )
    assert [d["uid"] for d in datasources["datasources"]] == [DATASOURCE_UID]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "WHERE $__timeFilter(day)",
            "WHERE day BETWEEN '2017-03-01T00:00:00Z' AND '2017-04-01T12:30:00.5Z'",
        ),
        ("$__timeFrom() .. $__timeTo()", "'2017-03-01T00:00:00Z' .. '2017-04-01T12:30:00.5Z'"),
        (
            "SELECT $__timeGroupAlias(day, '1d'), sum(gmv)",
            'SELECT floor(extract(epoch from day)/86400)*86400 AS "time", sum(gmv)',
        ),
        ("GROUP BY $__timeGroup(ts, '5m')", "GROUP BY floor(extract(epoch from ts)/300)*300"),
        (  # as Grafana: a $__timeGroup followed by a comma is aliased
            "SELECT $__timeGroup(ts,'1h'), x",
            'SELECT floor(extract(epoch from ts)/3600)*3600 AS "time", x',
        ),
        (  # the fill argument only shapes the plot; Go prints 1209600 as 1.2096e+06
            "$__timeGroup(ts, '2w', 0)",
            "floor(extract(epoch from ts)/1.2096e+06)*1.2096e+06",
        ),
        ("$__timeGroup(ts, '500ms')", "floor(extract(epoch from ts)/0.5)*0.5"),
        ("SELECT $__time(month), v", 'SELECT month AS "time", v'),
        ("SELECT $__timeEpoch(ts)", 'SELECT extract(epoch from ts) as "time"'),
        ("$__unixEpochFilter(epoch_s)", "epoch_s >= 1488326400 AND epoch_s <= 1491049800"),
        ("$__unixEpochFrom() $__unixEpochTo()", "1488326400 1491049800"),
        (
            "$__unixEpochGroupAlias(epoch_s, '1m')",
            'floor((epoch_s)/60)*60 AS "time"',
        ),
    ],
)
def test_macros_expand_as_grafana_expands_them(sql: str, expected: str) -> None:
    assert expand_macros(sql, FROM_, TO) == expected


def test_times_are_written_in_utc() -> None:
    brasilia = timezone(timedelta(hours=-3))
    naive_utc = datetime(2017, 3, 1)
    assert expand_macros("$__timeFrom()", naive_utc, TO) == "'2017-03-01T00:00:00Z'"
    start = datetime(2017, 3, 1, 21, 0, 0, 120000, tzinfo=brasilia)
    assert expand_macros("$__timeFrom()", start, TO) == "'2017-03-02T00:00:00.12Z'"


@pytest.mark.parametrize(
    "sql", ["$__timeGroup(ts, '1M')", "$__timeGroup(ts)", "$__nope(x)", "$__timeFilter()"]
)
def test_bad_macros_are_errors(sql: str) -> None:
    with pytest.raises(ValueError):
        expand_macros(sql, FROM_, TO)


STATE = Variable(
    "state",
    query="SELECT state FROM dw.dim_geography ORDER BY state",
    multi=True,
    include_all=True,
    all_value="SELECT state FROM dw.dim_geography",
    current=("$__all",),
)


@pytest.mark.parametrize(
    ("sql", "variables", "expected"),
    [
        ("state IN ($state)", {"state": STATE}, "state IN (SELECT state FROM dw.dim_geography)"),
        (
            "state IN (${state})",
            {"state": Variable("state", include_all=True, all_value="x", current=("All",))},
            "state IN (x)",
        ),
        (
            "state IN ($state)",
            {"state": Variable("state", multi=True, current=("SP", "RJ"))},
            "state IN ('SP','RJ')",
        ),
        (  # one value of a variable with an All choice is quoted, as Grafana does
            "state = $state",
            {"state": Variable("state", include_all=True, all_value="x", current=("SP",))},
            "state = 'SP'",
        ),
        ("state = '$state'", {"state": "SP"}, "state = 'SP'"),
        ("city = '${city}'", {"city": "Santa Bárbara d'Oeste"}, "city = 'Santa Bárbara d''Oeste'"),
        ("state IN ($state)", {"state": ["SP", "RJ"]}, "state IN ('SP','RJ')"),
        ("state IN (${state:sqlstring})", {"state": "SP"}, "state IN ('SP')"),
        ("'${state:csv}'", {"state": ["SP", "RJ"]}, "'SP,RJ'"),
        ("state = '[[state]]'", {"state": "SP"}, "state = 'SP'"),
        (  # unknown names, Grafana's globals and longer names are left alone
            "$other $__timeFrom() $statement",
            {"state": "SP"},
            "$other '2017-03-01T00:00:00Z' $statement",
        ),
    ],
)
def test_variables_expand_as_grafana_expands_them(sql, variables, expected) -> None:
    assert expand_macros(sql, FROM_, TO, variables) == expected


def test_all_without_an_all_value_is_an_error() -> None:
    with pytest.raises(ValueError, match="allValue"):
        expand_macros("$s", FROM_, TO, {"s": Variable("s", include_all=True, current=("All",))})
    with pytest.raises(ValueError, match="no All"):
        expand_macros("$s", FROM_, TO, {"s": "$__all"})
