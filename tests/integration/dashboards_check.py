"""Every dashboard panel run against a warehouse: used by the dashboards' integration test on a
hand-made dataset, and by the end-to-end tests after a real pipeline run."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import psycopg

from warehouse.dashboards import Panel, panels, run_panel

# The columns each panel's query returns, in order: what the panel's field overrides, units and
# reductions are written against. A new panel needs its line here.
EXPECTED_COLUMNS: dict[tuple[str, str], list[str]] = {
    ("lakehouse-executive-kpis", "Orders"): ["orders"],
    ("lakehouse-executive-kpis", "GMV"): ["gmv"],
    ("lakehouse-executive-kpis", "Average ticket"): ["avg_ticket"],
    ("lakehouse-executive-kpis", "Customers"): ["customers"],
    ("lakehouse-executive-kpis", "Late deliveries"): ["late_share"],
    ("lakehouse-executive-kpis", "Review score"): ["avg_review_score"],
    ("lakehouse-executive-kpis", "GMV per day"): ["time", "gmv"],
    ("lakehouse-executive-kpis", "Orders and average ticket per day"): [
        "time", "orders", "avg_ticket",
    ],
    ("lakehouse-executive-kpis", "Late share and review score per day"): [
        "time", "late_share", "avg_review_score",
    ],
    ("lakehouse-macro-correlation", "Monthly GMV: nominal and IPCA-deflated"): [
        "time", "gmv_nominal", "gmv_real",
    ],
    ("lakehouse-macro-correlation", "IPCA and Selic target"): [
        "time", "ipca_pct", "selic_target_pct",
    ],
    ("lakehouse-macro-correlation", "Correlation with real GMV"): ["ipca", "selic_target"],
    ("lakehouse-macro-correlation", "Monthly GMV and indicators"): [
        "month", "gmv_nominal", "gmv_real", "gmv_real_mom_pct", "ipca_pct", "selic_target_pct",
    ],
    ("lakehouse-pipeline-health", "Seconds since last batch"): ["query_name", "seconds_since"],
    ("lakehouse-pipeline-health", "Warehouse freshness"): [
        "seconds_since_load", "loads_last_hour", "last_load_at",
    ],
    ("lakehouse-pipeline-health", "Latest batch per query"): [
        "query_name", "batch_id", "batch_started_at", "rows_in", "rows_out",
        "batch_duration_ms", "lag", "lag_unit", "seconds_since",
    ],
    ("lakehouse-pipeline-health", "Lag per query"): ["time", "metric", "lag"],
    ("lakehouse-pipeline-health", "Rows per batch"): ["time", "metric", "rows_in"],
    ("lakehouse-pipeline-health", "Batch duration"): ["time", "metric", "batch_duration_ms"],
    ("lakehouse-pipeline-health", "Warehouse rows per load"): ["time", "metric", "rows_written"],
    ("lakehouse-pipeline-health", "Quarantine rate"): ["time", "quarantine_rate"],
    ("lakehouse-pipeline-health", "Records read and quarantined per hour"): [
        "time", "rows_read", "quarantined",
    ],
    ("lakehouse-pipeline-health", "Quarantine reasons"): [
        "stage", "reason", "records", "last_seen_at",
    ],
    ("lakehouse-pipeline-health", "Latest reconciliation"): [
        "measure", "warehouse", "silver", "matches", "checked_at",
    ],
    ("lakehouse-pipeline-health", "Failing quality checks"): [
        "critical_failing", "warning_failing", "passing", "last_checked_at",
    ],
    ("lakehouse-pipeline-health", "Gold promotion"): [
        "table_name", "outcome", "checked_version", "promoted_version", "promoted_rows",
        "promoted_at", "reason",
    ],
    ("lakehouse-pipeline-health", "Latest quality failures"): [
        "severity", "table_name", "expectation", "failing_rows", "detail", "checked_at",
    ],
    ("lakehouse-sales-by-state-category", "GMV by state"): ["state", "gmv"],
    ("lakehouse-sales-by-state-category", "GMV by region"): ["region", "gmv"],
    ("lakehouse-sales-by-state-category", "Sales by state"): [
        "state", "state_name", "region", "orders", "items", "gmv", "gmv_per_order",
    ],
    ("lakehouse-sales-by-state-category", "GMV per day by region"): ["time", "metric", "gmv"],
    ("lakehouse-sales-by-state-category", "GMV by category (top 20)"): ["category", "gmv"],
    ("lakehouse-sales-by-state-category", "Sales by category"): [
        "category", "category_pt", "orders", "items", "gmv",
    ],
    ("lakehouse-sales-by-state-category", "Payments by type"): ["payment_type", "payment_value"],
    ("lakehouse-sales-by-state-category", "Payments by type: counts and installments"): [
        "payment_type", "payments", "payment_value", "avg_installments",
    ],
    ("lakehouse-weather", "Orders and rain per day"): ["time", "orders", "rain_mm"],
    ("lakehouse-weather", "GMV and temperature per day"): ["time", "gmv", "temp_avg"],
    ("lakehouse-weather", "Rainy and dry days per state"): [
        "state", "capital", "weather", "days", "orders_per_day", "gmv_per_day",
    ],
    ("lakehouse-weather", "Sales and weather correlation per state"): [
        "state", "days", "gmv_vs_rain", "gmv_vs_temp", "orders_vs_rain",
    ],
    ("lakehouse-weather", "GMV per day by temperature band"): ["temp_band", "gmv_per_day"],
}  # fmt: skip
# Panels that list problems: empty while the pipeline is healthy.
EMPTY_WHEN_HEALTHY = {("lakehouse-pipeline-health", "Latest quality failures")}


def panel_problems(
    columns: list[str], rows: list[tuple], panel: Panel, *, allow_empty: bool = False
) -> list[str]:
    """What is wrong with a panel's result: its columns, no rows, a time series' time."""
    problems = []
    expected = EXPECTED_COLUMNS.get((panel.dashboard, panel.title))
    if columns != expected:
        problems.append(f"columns {columns}, expected {expected}")
    if not rows and not allow_empty:
        problems.append("no rows")
    if panel.format == "time_series":
        if "time" not in columns:
            problems.append("a time series without a time column")
        elif any(row[columns.index("time")] is None for row in rows):
            problems.append("a row without a time")
    return problems


def assert_every_panel_returns_rows(
    conn: psycopg.Connection,
    time_from: datetime,
    time_to: datetime,
    *,
    allow_empty: Collection[str] = (),
) -> list[Panel]:
    """Run every panel of every dashboard (as ``conn``'s role) over ``time_from``..``time_to``;
    each must return its expected columns and at least one row (unless its title is in
    ``allow_empty``, or it lists problems: ``EMPTY_WHEN_HEALTHY``). Returns the panels run;
    fails listing every panel that did not."""
    every = panels()
    assert {(p.dashboard, p.title) for p in every} == set(EXPECTED_COLUMNS), (
        "dashboards_check.EXPECTED_COLUMNS is out of step with the dashboards"
    )
    failures: dict[str, list[str]] = {}
    for panel in every:
        name = f"{panel.dashboard} / {panel.title}"
        try:
            columns, rows = run_panel(conn, panel, time_from, time_to)
        except psycopg.Error as exc:
            failures[name] = [f"{type(exc).__name__}: {exc}".strip()]
            continue
        may_be_empty = (
            panel.title in allow_empty or (panel.dashboard, panel.title) in EMPTY_WHEN_HEALTHY
        )
        problems = panel_problems(columns, rows, panel, allow_empty=may_be_empty)
        if problems:
            failures[name] = problems
    assert failures == {}, "\n".join(f"{name}: {'; '.join(p)}" for name, p in failures.items())
    return every
