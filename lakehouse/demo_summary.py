"""The main job's closing summary: rows per layer (from the Delta logs, no JVM), quarantined
and dead-lettered records, GMV by state (top 5, from the warehouse's dashboard view) and
freshness (how long after the last record was sent it was in the warehouse)."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from lakehouse.postgres import connect
from lakehouse.settings import Secrets, Settings

log = logging.getLogger(__name__)


@dataclass
class Summary:
    """What the summary prints."""

    layer_rows: dict[str, int] = field(default_factory=dict)
    layer_tables: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    dead_letters: int = 0
    warehouse_rows: dict[str, int] = field(default_factory=dict)
    top_states: list[tuple[str, Decimal, int]] = field(default_factory=list)
    last_load_at: datetime | None = None
    last_sent_at: datetime | None = None
    seconds_since_batch: dict[str, float] = field(default_factory=dict)

    @property
    def warehouse_orders(self) -> int:
        return self.warehouse_rows.get("dw.fct_order", 0)

    @property
    def freshness_s(self) -> float | None:
        """Seconds from the last record sent to the warehouse load that followed it."""
        if self.last_load_at is None or self.last_sent_at is None:
            return None
        return max(0.0, (self.last_load_at - self.last_sent_at).total_seconds())


WAREHOUSE_TABLES = ("dw.fct_order", "dw.fct_order_item", "dw.fct_payment", "dw.fct_review",
                    "dw.dim_customer", "dw.fct_indicator", "dw.fct_weather")  # fmt: skip


def gather_summary(settings: Settings, secrets: Secrets, last_sent_at: float | None) -> Summary:
    """Read the figures of the summary from the lake and the warehouse (``last_sent_at``:
    when this run's last record was acknowledged, None when it sent nothing)."""
    from batch.maintenance import file_stats, lake_tables

    summary = Summary()
    if last_sent_at is not None:
        summary.last_sent_at = datetime.fromtimestamp(last_sent_at, UTC)
    rows: dict[str, int] = defaultdict(int)
    tables: dict[str, int] = defaultdict(int)
    for ref in lake_tables():
        try:
            count = file_stats(settings, secrets, ref, small_bytes=0).rows
        except Exception as exc:  # a table not created yet: not part of the run
            log.debug("no rows for %s.%s: %s", ref.layer, ref.name, exc)
            continue
        if ref.layer == "silver" and ref.name == "quarantine":
            summary.quarantined = count
            continue
        rows[ref.layer] += count
        tables[ref.layer] += 1
    summary.layer_rows, summary.layer_tables = dict(rows), dict(tables)
    summary.dead_letters = _dead_letters(settings, secrets)
    with connect(settings, secrets, role="reader") as conn:
        for table in WAREHOUSE_TABLES:
            summary.warehouse_rows[table] = conn.execute(
                f"SELECT count(*) FROM {table}"
            ).fetchone()[0]
        summary.top_states = conn.execute(
            "SELECT state, sum(gmv), sum(orders) FROM dashboard.gmv_by_state"
            " GROUP BY state ORDER BY 2 DESC LIMIT 5"
        ).fetchall()
        summary.last_load_at = conn.execute(
            "SELECT last_load_at FROM dashboard.warehouse_freshness"
        ).fetchone()[0]
        summary.seconds_since_batch = dict(
            conn.execute(
                "SELECT query_name, seconds_since FROM dashboard.pipeline_freshness"
            ).fetchall()
        )
    return summary


def _dead_letters(settings: Settings, secrets: Secrets) -> int:
    """Records of the dead-letter topics (``*.dlq``) in bronze.events (0 before it exists)."""
    from batch.query import QueryError, run_query

    sql = "SELECT count(*) AS n FROM bronze.events WHERE topic LIKE '%.dlq'"
    try:
        table, _engine = run_query(sql, settings, secrets, engine="duckdb")
    except QueryError as exc:
        log.debug("no dead letters counted: %s", exc)
        return 0
    return int(table.column("n")[0].as_py())


def print_summary(
    console: Console,
    summary: Summary,
    sent: int,
    quality: str,
    promotions: list[str],
    timings: dict[str, float],
) -> None:
    """Print the summary tables."""
    console.rule("lakehouse demo summary")
    console.print(f"records sent to Kafka this run   : {sent:,}")
    layers = Table(title="rows per layer", title_justify="left")
    layers.add_column("layer")
    layers.add_column("tables", justify="right")
    layers.add_column("rows", justify="right")
    for layer in ("bronze", "silver", "gold"):
        layers.add_row(
            layer, str(summary.layer_tables.get(layer, 0)), f"{summary.layer_rows.get(layer, 0):,}"
        )
    layers.add_row("silver.quarantine", "1", f"{summary.quarantined:,}")
    layers.add_row("dead letters (bronze *.dlq)", "", f"{summary.dead_letters:,}")
    for table, count in summary.warehouse_rows.items():
        layers.add_row(table, "", f"{count:,}")
    console.print(layers)
    states = Table(title="GMV by state, top 5 (dashboard.gmv_by_state)", title_justify="left")
    states.add_column("state")
    states.add_column("orders", justify="right")
    states.add_column("GMV (BRL)", justify="right")
    for state, gmv, orders in summary.top_states:
        states.add_row(state, f"{orders:,}", f"{gmv:,.2f}")
    console.print(states)
    console.print(f"quarantined records              : {summary.quarantined:,}")
    console.print(f"dead-lettered records            : {summary.dead_letters:,}")
    fresh = summary.freshness_s
    console.print(
        "freshness (last record sent -> warehouse load): "
        + ("- (nothing new sent)" if fresh is None else f"{fresh:.1f} s")
    )
    since = ", ".join(f"{q} {s:.0f} s" for q, s in sorted(summary.seconds_since_batch.items()))
    console.print(f"since each query's last batch    : {since or '-'}")
    console.print(f"quality gates                    : {quality}")
    for line in promotions:
        console.print(f"  {line}")
    console.print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
