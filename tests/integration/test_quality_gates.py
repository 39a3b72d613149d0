"""Quality gates and gated promotion on the real S3 server and PostgreSQL, in a namespace of the
test's own: gold tables written with delta-rs (no JVM), a duplicate key planted in
gold.daily_sales is caught, stored and blocks that table's promotion (the warehouse keeps its
previous copy) while the other tables promote; fixed, it promotes. A warning-level breach is
recorded and blocks nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from batch.promote import promote
from batch.quality import run_quality, select
from batch.query import storage_options
from lakehouse.cli import main as lakehouse_main
from lakehouse.postgres import connect
from lakehouse.registry import table_path
from lakehouse.settings import Secrets, Settings

pytestmark = pytest.mark.integration

MONEY = pa.decimal128(14, 2)
DAILY = pa.schema(
    [
        ("sale_date", pa.date32()), ("state", pa.string()), ("category", pa.string()),
        ("orders", pa.int64()), ("items", pa.int64()), ("gmv", MONEY), ("freight", MONEY),
        ("avg_delivery_days", pa.float64()), ("late_share", pa.float64()),
        ("avg_review_score", pa.float64()), ("avg_ticket", MONEY),
    ]
)  # fmt: skip
MONTHLY = pa.schema(
    [
        ("month", pa.date32()), ("gmv_nominal", pa.decimal128(16, 2)),
        ("gmv_real", pa.decimal128(16, 2)), ("ipca_pct", pa.decimal128(18, 6)),
        ("selic_target_pct", pa.float64()),
    ]
)  # fmt: skip
WEATHER = pa.schema(
    [
        ("sale_date", pa.date32()), ("state", pa.string()), ("orders", pa.int64()),
        ("gmv", MONEY), ("temp_avg", pa.float64()), ("humidity_avg", pa.float64()),
        ("rain_mm", pa.float64()),
    ]
)  # fmt: skip
MAR31, APR1 = date(2017, 3, 31), date(2017, 4, 1)
D = Decimal


def daily_rows(*, version: int, duplicate: bool = False) -> pa.Table:
    """gold.daily_sales; ``version`` moves a number so copies can be told apart."""
    rows = [
        (MAR31, "SP", "beleza_saude", 1, 1, D("59.90"), D("12.50"), 5.0, 0.0, 5.0, D("59.90")),
        (MAR31, "RJ", "esporte_lazer", 1, 1, D("89.00"), D("25.10"), 11.7, 1.0, 2.0, D("89.00")),
        (APR1, "SP", "beleza_saude", version, 1, D("35.00"), D("9.90"), 3.4, 0.0, 4.0, D("35")),
    ]  # fmt: skip
    if duplicate:  # the same key twice: the planted breach
        rows.append((MAR31, "SP", "beleza_saude", 2, 2, D("1.00"), D("1"), 1.0, 0.0, 3.0, D("1")))
    return pa.Table.from_pylist([dict(zip(DAILY.names, r, strict=True)) for r in rows], DAILY)


def monthly_rows() -> pa.Table:
    rows = [
        (date(2017, 3, 1), D("148.90"), D("149.11"), D("0.250000"), 12.25),
        (date(2017, 4, 1), D("35.00"), D("35.00"), D("0.140000"), 11.25),
    ]
    return pa.Table.from_pylist([dict(zip(MONTHLY.names, r, strict=True)) for r in rows], MONTHLY)


def weather_rows() -> pa.Table:
    rows = [
        (MAR31, "SP", 1, D("59.90"), 23.4, 71.0, 12.5),
        (MAR31, "RJ", 1, D("89.00"), 27.9, 130.0, 0.0),  # humidity over 100: a warning
        (APR1, "SP", 1, D("35.00"), 19.8, 80.0, 0.0),
    ]
    return pa.Table.from_pylist([dict(zip(WEATHER.names, r, strict=True)) for r in rows], WEATHER)


def write_gold(settings: Settings, secrets: Secrets, name: str, rows: pa.Table) -> None:
    uri = "s3://" + table_path(settings, "gold", name).removeprefix("s3a://")
    write_deltalake(uri, rows, mode="overwrite", storage_options=storage_options(settings, secrets))


def _sorted(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: [str(value) for value in row.values()])


def warehouse_copy(conn: psycopg.Connection, name: str, columns: list[str]) -> list[dict]:
    """``dw.agg_<name>``'s rows, in a stable order."""
    cursor = conn.execute(f"SELECT {', '.join(columns)} FROM dw.agg_{name}")  # type: ignore[arg-type]
    return _sorted([dict(zip(columns, row, strict=True)) for row in cursor.fetchall()])


def latest_results(conn: psycopg.Connection, table: str) -> dict[str, tuple]:
    return {
        expectation: (severity, passed, failing_rows, version, detail)
        for expectation, severity, passed, failing_rows, version, detail in conn.execute(
            "SELECT expectation, severity, passed, failing_rows, table_version, detail"
            " FROM dashboard.quality_latest WHERE table_name = %s",
            (table,),
        )
    }


def test_a_duplicate_key_in_gold_blocks_its_promotion_until_fixed(
    ns_settings: Settings, secrets: Secrets, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    settings = ns_settings
    # A clean daily_sales promoted first: the copy a refused promotion must leave in place.
    write_gold(settings, secrets, "daily_sales", daily_rows(version=1))
    _run, (first,) = promote(settings, secrets, ["daily_sales"])
    assert first.promoted and first.delta_version == 0 and first.rows == 3, first

    write_gold(settings, secrets, "daily_sales", daily_rows(version=2, duplicate=True))
    write_gold(settings, secrets, "monthly_gmv", monthly_rows())
    write_gold(settings, secrets, "sales_weather", weather_rows())

    # The quality run: the duplicate is a critical failure (exit status 1), the humidity a
    # warning; both stored with the version they were found in.
    monkeypatch.setattr("batch.quality.get_settings", lambda: settings)
    monkeypatch.setattr("batch.promote.get_settings", lambda: settings)
    tables = ["--table", "gold.daily_sales", "--table", "sales_weather"]
    assert lakehouse_main(["batch", "quality", "--layer", "gold", *tables]) == 1
    out, err = capsys.readouterr()
    breach = "1 duplicate key, e.g. (2017-03-31, SP, beleza_saude) x2"
    assert f"CRITICAL gold.daily_sales unique(sale_date, state, category): {breach}" in out
    assert "1 critical failed, 1 warning failed, 0 not run" in out
    assert "error: 1 critical expectation(s) failed on gold.daily_sales" in err
    with connect(settings, secrets, role="reader") as conn:
        stored = latest_results(conn, "gold.daily_sales")
        assert stored["unique(sale_date, state, category)"] == ("critical", False, 1, 1, breach)
        assert all(passed for severity, passed, *_ in stored.values() if severity == "warning")
        weather = latest_results(conn, "gold.sales_weather")
        assert weather["in_range(humidity_avg between 0 and 100)"][:3] == ("warning", False, 1)

    # The promotion: daily_sales refused (exit status 1), the other two promoted.
    assert lakehouse_main(["batch", "promote"]) == 1
    out, err = capsys.readouterr()
    assert (
        "gold.daily_sales not promoted: critical expectation unique(sale_date, state, category)"
        " failed: 1 duplicate key, e.g. (2017-03-31, SP, beleza_saude) x2"
    ) in out
    assert "gold.monthly_gmv promoted: version 0, 2 rows -> dw.agg_monthly_gmv" in out
    assert "gold.sales_weather promoted: version 0, 3 rows" in out
    assert "WARNING  gold.sales_weather in_range(humidity_avg between 0 and 100): 1 row" in out
    assert "error: not promoted: gold.daily_sales" in err

    with connect(settings, secrets, role="reader") as conn:
        assert warehouse_copy(conn, "daily_sales", DAILY.names) == _sorted(
            daily_rows(version=1).to_pylist()
        )
        assert warehouse_copy(conn, "monthly_gmv", MONTHLY.names) == _sorted(
            monthly_rows().to_pylist()
        )
        assert warehouse_copy(conn, "sales_weather", WEATHER.names) == _sorted(
            weather_rows().to_pylist()
        )
        status = {
            table: (outcome, checked, promoted, reason)
            for table, outcome, checked, promoted, reason in conn.execute(
                "SELECT table_name, outcome, checked_version, promoted_version, reason"
                " FROM dashboard.promotion_latest"
            )
        }
    assert status["gold.daily_sales"][:3] == ("refused", 1, 0)
    assert "unique(sale_date, state, category) failed" in status["gold.daily_sales"][3]
    assert status["gold.monthly_gmv"] == ("promoted", 0, 0, "")

    # Fixed: the table is rewritten without the duplicate, and the next run promotes it.
    write_gold(settings, secrets, "daily_sales", daily_rows(version=3))
    run, (fixed,) = promote(settings, secrets, ["daily_sales"])
    assert run.failures("critical") == []
    assert (fixed.promoted, fixed.delta_version, fixed.rows) == (True, 2, 3)
    with connect(settings, secrets, role="reader") as conn:
        assert warehouse_copy(conn, "daily_sales", DAILY.names) == _sorted(
            daily_rows(version=3).to_pylist()
        )
        stored = latest_results(conn, "gold.daily_sales")
        assert stored["unique(sale_date, state, category)"][:3] == ("critical", True, 0)


def test_warehouse_expectations_run_on_the_namespace_database(
    ns_settings: Settings, secrets: Secrets
) -> None:
    with connect(ns_settings, secrets) as conn:  # an item whose order header never arrived
        conn.execute(
            "INSERT INTO dw.dim_product (product_id) VALUES ('p1');"
            "INSERT INTO dw.dim_seller (seller_id) VALUES ('s1');"
            "INSERT INTO dw.fct_order_item (order_id, order_item_id, product_id, seller_id,"
            " price, freight_value) VALUES ('o404', 1, 'p1', 's1', 10.00, 2.50)"
        )
    run = run_quality(ns_settings, secrets, select("warehouse"))
    assert run.failures("critical") == []
    failed = {r.expectation.name: r for r in run.failures("warning")}
    orphan = failed["references(order_id -> dw.fct_order(order_id))"]
    assert orphan.expectation.table == "dw.fct_order_item"
    assert orphan.sample == ({"order_id": "o404", "order_item_id": 1},)
    assert "freshness(updated_at within 24 h)" in failed  # no order at all: stale
    assert all(r.passed is not None for r in run.results)

    _run, (nothing,) = promote(ns_settings, secrets, ["monthly_gmv"])  # no gold table yet
    assert (nothing.outcome, nothing.reason) == ("skipped", "no such table in the lake yet")
