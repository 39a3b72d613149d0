"""The main job's HTML report: one self-contained file (plotly.js inlined, no network) with
charts drawn from the same ``dashboard.*`` views the Grafana dashboards read, as the read-only
role. Reading (``collect``) is apart from drawing (``charts``, ``render``).

Every chart's container gets a ``data-points`` attribute once plotly has drawn it (the number
of x values over its traces), so a headless browser can tell that each chart has data.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger(__name__)

Rows = list[tuple[Any, ...]]

QUERIES = {
    "kpis": """
        SELECT count(*) AS orders,
               coalesce(sum(gmv), 0) AS gmv,
               round(sum(gmv) / nullif(count(*) FILTER (WHERE items > 0), 0), 2) AS avg_ticket,
               count(DISTINCT customer_token) AS customers,
               min(purchase_date) AS first_day,
               max(purchase_date) AS last_day
        FROM dashboard.order_sales""",
    "gmv_by_state": """
        SELECT state, sum(gmv) AS gmv
        FROM dashboard.gmv_by_state
        GROUP BY state
        ORDER BY gmv DESC""",
    "gmv_by_category": """
        SELECT category_en, sum(gmv) AS gmv
        FROM dashboard.gmv_by_category
        GROUP BY category_en
        ORDER BY gmv DESC
        LIMIT 15""",
    "macro_monthly": """
        SELECT month, gmv_nominal, gmv_real, ipca_pct, selic_target_pct
        FROM dashboard.macro_monthly
        ORDER BY month""",
    "sales_rain": """
        SELECT state,
               round(avg(gmv) FILTER (WHERE rained), 2)     AS gmv_per_rainy_day,
               round(avg(gmv) FILTER (WHERE NOT rained), 2) AS gmv_per_dry_day,
               count(*) FILTER (WHERE rained)               AS rainy_days
        FROM dashboard.sales_weather
        GROUP BY state
        ORDER BY state""",
    "stream_batches": """
        SELECT query_name,
               count(*)                                 AS batches,
               sum(rows_in)                             AS rows_in,
               round(sum(batch_duration_ms) / 1000.0, 1) AS seconds
        FROM dashboard.stream_batches
        GROUP BY query_name
        ORDER BY query_name""",
    "quarantine_reasons": """
        SELECT stage || ': ' || reason AS reason, records
        FROM dashboard.quarantine_reasons
        ORDER BY records DESC
        LIMIT 12""",
    "quality": """
        SELECT count(*) FILTER (WHERE passed) AS passing,
               count(*) FILTER (WHERE severity = 'critical' AND NOT passed) AS critical_failing,
               count(*) FILTER (WHERE severity = 'warning' AND NOT passed) AS warning_failing
        FROM dashboard.quality_latest""",
    "freshness": """
        SELECT query_name, round(seconds_since::numeric) AS seconds_since
        FROM dashboard.pipeline_freshness
        ORDER BY query_name""",
}


@dataclass
class ReportData:
    """The rows of every query in ``QUERIES``, by name."""

    rows: dict[str, Rows] = field(default_factory=dict)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def one(self, name: str) -> tuple[Any, ...]:
        rows = self.rows.get(name) or [()]
        return rows[0]


def collect(conn: psycopg.Connection) -> ReportData:
    """Run every report query on ``conn`` (the warehouse, as the reader)."""
    data = ReportData()
    for name, sql in QUERIES.items():
        data.rows[name] = conn.execute(sql).fetchall()
    return data


@dataclass(frozen=True)
class Chart:
    """One chart of the report: an id, a title, a caption and its plotly figure."""

    chart_id: str
    title: str
    caption: str
    figure: Any


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, Decimal | int | float) else None


def _layout(**extra: Any) -> dict[str, Any]:
    return {
        "margin": {"l": 60, "r": 30, "t": 20, "b": 60},
        "height": 380,
        "template": "plotly_white",
        "legend": {"orientation": "h", "y": -0.2},
        **extra,
    }


def charts(data: ReportData) -> list[Chart]:
    """The report's charts, each from the rows of one dashboard view."""
    import plotly.graph_objects as go

    states = data.rows["gmv_by_state"]
    categories = data.rows["gmv_by_category"]
    macro = data.rows["macro_monthly"]
    rain = data.rows["sales_rain"]
    batches = data.rows["stream_batches"]
    reasons = data.rows["quarantine_reasons"]

    by_state = go.Figure(go.Bar(x=[r[0] for r in states], y=[_num(r[1]) for r in states]))
    by_state.update_layout(**_layout(yaxis_title="GMV (BRL)"))

    by_category = go.Figure(
        go.Bar(
            x=[_num(r[1]) for r in reversed(categories)],
            y=[r[0] for r in reversed(categories)],
            orientation="h",
        )
    )
    by_category.update_layout(**_layout(xaxis_title="GMV (BRL)", margin={"l": 220, "t": 20}))

    months = [r[0].isoformat() for r in macro]
    real_vs_nominal = go.Figure(
        [
            go.Scatter(x=months, y=[_num(r[1]) for r in macro], name="GMV, nominal"),
            go.Scatter(x=months, y=[_num(r[2]) for r in macro], name="GMV, IPCA-deflated"),
            go.Scatter(
                x=months,
                y=[_num(r[4]) for r in macro],
                name="Selic target (% a year)",
                yaxis="y2",
                line={"dash": "dot"},
            ),
        ]
    )
    real_vs_nominal.update_layout(
        **_layout(
            yaxis_title="GMV (BRL)",
            yaxis2={"title": "Selic target (%)", "overlaying": "y", "side": "right"},
        )
    )

    sales_rain = go.Figure(
        [
            go.Bar(x=[r[0] for r in rain], y=[_num(r[2]) for r in rain], name="dry days"),
            go.Bar(x=[r[0] for r in rain], y=[_num(r[1]) for r in rain], name="rainy days"),
        ]
    )
    sales_rain.update_layout(**_layout(barmode="group", yaxis_title="average GMV per day (BRL)"))

    health = go.Figure(
        [
            go.Bar(
                x=[r[0] for r in batches],
                y=[r[2] for r in batches],
                name="rows read",
                text=[f"{r[1]} batches" for r in batches],
            ),
            go.Scatter(
                x=[r[0] for r in batches],
                y=[_num(r[3]) for r in batches],
                name="seconds in micro-batches",
                yaxis="y2",
                mode="markers",
                marker={"size": 12},
            ),
        ]
    )
    health.update_layout(
        **_layout(
            yaxis_title="rows read",
            yaxis2={"title": "seconds", "overlaying": "y", "side": "right", "rangemode": "tozero"},
        )
    )

    quarantine = go.Figure(
        go.Bar(
            x=[r[1] for r in reversed(reasons)],
            y=[r[0] for r in reversed(reasons)],
            orientation="h",
        )
    )
    quarantine.update_layout(**_layout(xaxis_title="records", margin={"l": 320, "t": 20}))

    return [
        Chart("gmv-by-state", "GMV by state", "dashboard.gmv_by_state", by_state),
        Chart(
            "gmv-by-category", "GMV by category (top 15)", "dashboard.gmv_by_category", by_category
        ),
        Chart(
            "gmv-real-vs-nominal",
            "Monthly GMV, nominal and deflated by IPCA, with the Selic target",
            "dashboard.macro_monthly",
            real_vs_nominal,
        ),
        Chart(
            "sales-vs-rain",
            "Average GMV per day on rainy and dry days, by state",
            "dashboard.sales_weather",
            sales_rain,
        ),
        Chart(
            "pipeline-health",
            "Pipeline health: rows read, micro-batches and time of each streaming query",
            "dashboard.stream_batches",
            health,
        ),
        Chart(
            "quarantine-reasons",
            "Quarantined records by reason",
            "dashboard.quarantine_reasons",
            quarantine,
        ),
    ]


# Counts the x values (or values) plotly drew and marks the chart's container with them.
_MARK_POINTS = (
    "var gd = document.getElementById('{plot_id}');"
    "var n = gd.data.reduce(function (s, t) { return s + ((t.x || t.values || []).length); }, 0);"
    "gd.closest('.chart').setAttribute('data-points', String(n));"
)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } .muted { color: #666; }
.kpis { display: flex; flex-wrap: wrap; gap: 1rem; margin: 1.5rem 0; }
.kpi { border: 1px solid #ddd; border-radius: 6px; padding: 0.6rem 1rem; min-width: 9rem; }
.kpi b { display: block; font-size: 1.4rem; }
.chart { border-top: 1px solid #eee; margin-top: 1.5rem; padding-top: 0.5rem; }
.chart h2 { font-size: 1.1rem; margin: 0.3rem 0; }
"""


def _money(value: Any) -> str:
    number = _num(value)
    return "-" if number is None else f"R$ {number:,.2f}"


def _kpis(data: ReportData) -> list[tuple[str, str]]:
    orders, gmv, ticket, customers, first_day, last_day = data.one("kpis") or (None,) * 6
    passing, critical, warning = data.one("quality") or (None,) * 3
    quarantined = sum(r[1] for r in data.rows.get("quarantine_reasons", []))
    fresh = ", ".join(f"{q} {s}s" for q, s in data.rows.get("freshness", []))
    return [
        ("orders", f"{orders or 0:,}"),
        ("GMV", _money(gmv)),
        ("average ticket", _money(ticket)),
        ("customers", f"{customers or 0:,}"),
        ("sales days", f"{first_day} to {last_day}"),
        ("quarantined", f"{quarantined:,}"),
        ("quality checks", f"{passing or 0} pass, {critical or 0} critical, {warning or 0} warn"),
        ("since last batch", fresh or "-"),
    ]


def render(data: ReportData, chart_list: Sequence[Chart], title: str = "lakehouse report") -> str:
    """The whole report as one HTML document (plotly.js inlined once)."""
    parts = []
    for index, chart in enumerate(chart_list):
        body = chart.figure.to_html(
            full_html=False,
            include_plotlyjs=index == 0,
            div_id=f"plot-{chart.chart_id}",
            post_script=_MARK_POINTS,
            config={"displaylogo": False, "responsive": True},
        )
        parts.append(
            f'<section class="chart" id="{chart.chart_id}"><h2>{html.escape(chart.title)}</h2>'
            f'<div class="muted">from {html.escape(chart.caption)}</div>{body}</section>'
        )
    kpis = "".join(
        f'<div class="kpi"><span class="muted">{html.escape(k)}</span><b>{html.escape(v)}</b></div>'
        for k, v in _kpis(data)
    )
    stamp = data.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<div class="muted">generated {stamp} from the PostgreSQL warehouse\'s dashboard views'
        f'</div><div class="kpis">{kpis}</div>{"".join(parts)}</body></html>'
    )


def write_report(conn: psycopg.Connection, path: Path) -> Path:
    """Collect, draw and write the report to ``path``; returns ``path``."""
    data = collect(conn)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data, charts(data)), encoding="utf-8")
    log.info("report written to %s (%d bytes)", path, path.stat().st_size)
    return path
