"""The dashboards on a real warehouse: in a database of this test's own, a small hand-made star
(four orders over two days in two states, with everything the views join) and pipeline
bookkeeping; every panel's query, run as the dashboards' read-only role, returns its columns
and rows. And the roles: the reader writes nothing; the loader writes the warehouse's rows but
neither its structure nor the migrations' record."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from psycopg.errors import InsufficientPrivilege

from lakehouse.postgres import connect, drop_database, ensure_database
from lakehouse.settings import Secrets, Settings
from tests.integration.dashboards_check import assert_every_panel_returns_rows
from warehouse.dashboards import panels, run_panel

pytestmark = pytest.mark.integration

QUERIES = ("ingest", "gold")
SALES = """
INSERT INTO dw.dim_customer (customer_id, customer_token, zip3, city, state) VALUES
    ('c1', 'tok-ana', '010', 'sao paulo', 'SP'),
    ('c2', 'tok-bia', '200', 'rio de janeiro', 'RJ'),
    ('c3', 'tok-ana', '010', 'sao paulo', 'SP');
INSERT INTO dw.dim_category (category_pt, category_en) VALUES
    ('beleza_saude', 'health_beauty'), ('esporte_lazer', 'sports_leisure');
INSERT INTO dw.dim_product (product_id, category_pt, category_en, weight_g) VALUES
    ('p1', 'beleza_saude', 'health_beauty', 300), ('p2', 'esporte_lazer', 'sports_leisure', 900);
INSERT INTO dw.dim_seller (seller_id, zip_prefix, city, state) VALUES
    ('s1', '01310', 'sao paulo', 'SP');
INSERT INTO dw.fct_order (order_id, customer_id, purchase_date, order_status, purchased_at,
                          delivered_customer_at, estimated_delivery_at, delivery_days, is_late)
VALUES
    ('o1', 'c1', '2017-03-31', 'delivered', '2017-03-31 10:00', '2017-04-05 10:00',
     '2017-04-10', 5, false),
    ('o2', 'c2', '2017-03-31', 'delivered', '2017-03-31 15:30', '2017-04-12 09:00',
     '2017-04-08', 11.73, true),
    ('o3', 'c3', '2017-04-01', 'delivered', '2017-04-01 09:15', '2017-04-04 18:00',
     '2017-04-15', 3.36, false),
    ('o4', 'c2', '2017-04-01', 'shipped', '2017-04-01 20:45', NULL, '2017-04-20', NULL, NULL);
INSERT INTO dw.fct_order_item (order_id, order_item_id, product_id, seller_id, price,
                               freight_value) VALUES
    ('o1', 1, 'p1', 's1', 59.90, 12.50), ('o1', 2, 'p2', 's1', 120.00, 18.00),
    ('o2', 1, 'p2', 's1', 89.00, 25.10), ('o3', 1, 'p1', 's1', 35.00, 9.90),
    ('o4', 1, 'p1', 's1', 199.99, 30.00);
INSERT INTO dw.fct_payment (order_id, payment_sequential, payment_type, installments,
                            payment_value) VALUES
    ('o1', 1, 'credit_card', 3, 150.00), ('o1', 2, 'voucher', 1, 60.40),
    ('o2', 1, 'boleto', 1, 114.10), ('o3', 1, 'credit_card', 1, 44.90),
    ('o4', 1, 'credit_card', 6, 229.99);
INSERT INTO dw.fct_review (review_id, order_id, review_score, created_date, has_comment) VALUES
    ('r1', 'o1', 5, '2017-04-06', false), ('r2', 'o2', 2, '2017-04-13', true),
    ('r3', 'o3', 4, '2017-04-05', false);
INSERT INTO dw.fct_indicator (series_code, date_key, value) VALUES
    (433, '2017-03-01', 0.25), (433, '2017-04-01', 0.14),
    (432, '2017-03-31', 12.25), (432, '2017-04-01', 11.25);
INSERT INTO dw.fct_weather (state, date_key, observations, temp_avg, temp_min, temp_max,
                            humidity_avg, rain_mm) VALUES
    ('SP', '2017-03-31', 24, 23.4, 18.0, 29.1, 71, 12.5),
    ('RJ', '2017-03-31', 24, 27.9, 23.2, 33.0, 68, 0),
    ('SP', '2017-04-01', 24, 19.8, 16.4, 24.0, 80, 0),
    ('RJ', '2017-04-01', 24, 26.1, 22.8, 30.5, 75, 3.2);
"""


def _load(conn: psycopg.Connection, now: datetime) -> None:
    """The hand-made dataset, straight into the tables (as the owner)."""
    conn.execute(SALES)  # type: ignore[arg-type]
    for number, name in enumerate(QUERIES):
        query_id = uuid.UUID(int=number + 1)
        for batch_id, age in enumerate((timedelta(minutes=40), timedelta(minutes=5))):
            conn.execute(
                "INSERT INTO ops.stream_progress (query_name, query_id, run_id, batch_id,"
                " batch_started_at, rows_in, rows_out, input_rows_per_s, processed_rows_per_s,"
                " batch_duration_ms, lag, lag_unit) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, %s)",
                (
                    name, query_id, uuid.UUID(int=100 + number), batch_id, now - age,
                    1000 * (batch_id + 1), 990 * (batch_id + 1), 250.0, 310.5, 3200 + batch_id,
                    40 - 30 * batch_id, "offsets" if name == "ingest" else "files",
                ),
            )  # fmt: skip
    silver_batch_at = now - timedelta(minutes=5)
    conn.execute(
        'INSERT INTO ops.quarantine_event (topic, partition, "offset", stage, reason, seen_at)'
        " VALUES ('olist.orders', 0, 17, 'silver', 'missing order_id', %s),"
        " ('olist.orders', 1, 3, 'silver', 'unparseable timestamp', %s)",
        (silver_batch_at, silver_batch_at),
    )
    load_id = uuid.UUID(int=4)
    conn.execute(
        "INSERT INTO ops.reconciliation (query_id, batch_id, measure, warehouse, silver,"
        " checked_at) VALUES (%s, 0, 'orders', 3, 3, %s), (%s, 0, 'gmv', 503.90, 503.90, %s),"
        " (%s, 1, 'orders', 4, 4, %s), (%s, 1, 'gmv', 503.89, 503.89, %s)",
        (load_id, now - timedelta(minutes=40)) * 2 + (load_id, now - timedelta(minutes=5)) * 2,
    )
    conn.execute(
        "INSERT INTO etl.batch_log (query_name, query_id, batch_id, changes, rows, started_at,"
        " committed_at) VALUES ('warehouse', %s, 0, 18, %s, %s, %s),"
        " ('warehouse', %s, 1, 3, %s, %s, %s)",
        (
            load_id, '{"dw.fct_order": 3, "dw.fct_order_item": 4, "dw.fct_payment": 4}',
            now - timedelta(minutes=40), now - timedelta(minutes=39),
            load_id, '{"dw.fct_order": 1, "dw.fct_order_item": 1}',
            now - timedelta(minutes=5), now - timedelta(minutes=4),
        ),
    )  # fmt: skip
    _load_quality(conn, now)


QUALITY = """
INSERT INTO ops.quality_results (run_id, checked_at, layer, table_name, expectation, kind,
                                 severity, passed, failing_rows, sample, detail, query,
                                 table_version) VALUES
    (%(old)s, %(old_at)s, 'gold', 'gold.daily_sales', 'unique(sale_date, state, category)',
     'unique', 'critical', true, 0, '[]', '', 'WITH ...', 3),
    (%(old)s, %(old_at)s, 'gold', 'gold.sales_weather',
     'in_range(humidity_avg between 0 and 100)', 'in_range', 'warning', false, 1,
     '[{"state": "RJ", "humidity_avg": 130}]', '1 row outside humidity_avg between 0 and 100',
     'WITH ...', 1),
    (%(new)s, %(new_at)s, 'gold', 'gold.daily_sales', 'unique(sale_date, state, category)',
     'unique', 'critical', false, 3, '[]', '3 duplicate keys, e.g. (2017-03-31, SP, x) x2',
     'WITH ...', 4),
    (%(new)s, %(new_at)s, 'warehouse', 'dw.fct_order_item',
     'references(order_id -> dw.fct_order(order_id))', 'references', 'warning', true, 0, '[]',
     '', 'WITH ...', NULL)
"""
PROMOTIONS = """
INSERT INTO etl.promotion (table_name, decided_at, delta_version, promoted, rows, reason) VALUES
    ('gold.daily_sales', %(old_at)s, 3, true, 120, ''),
    ('gold.daily_sales', %(new_at)s, 4, false, NULL,
     'critical expectation unique(sale_date, state, category) failed: 3 duplicate keys'),
    ('gold.monthly_gmv', %(new_at)s, 7, true, 20, '')
"""


def _load_quality(conn: psycopg.Connection, now: datetime) -> None:
    """Two quality runs (the latest finds a duplicate key in gold) and the promotions."""
    runs = {
        "old": uuid.UUID(int=201), "old_at": now - timedelta(minutes=40),
        "new": uuid.UUID(int=202), "new_at": now - timedelta(minutes=5),
    }  # fmt: skip
    conn.execute(QUALITY, runs)
    conn.execute(PROMOTIONS, runs)


@pytest.fixture
def warehouse(ns_settings: Settings, secrets: Secrets) -> Iterator[Settings]:
    """A fresh namespace database with every migration applied, dropped afterwards."""
    ensure_database(ns_settings, secrets)
    try:
        yield ns_settings
    finally:
        drop_database(ns_settings, secrets)


def test_every_panel_returns_its_columns_and_rows_as_the_reader(
    warehouse: Settings, secrets: Secrets
) -> None:
    now = datetime.now(UTC)
    with connect(warehouse, secrets) as conn:
        _load(conn, now)
    time_from, time_to = datetime(2017, 1, 1, tzinfo=UTC), now + timedelta(minutes=1)
    with connect(warehouse, secrets, role="reader") as conn:
        ran = assert_every_panel_returns_rows(conn, time_from, time_to)
        assert len(ran) == len(panels()) >= 30
        by_title = {panel.title: panel for panel in ran}

        # A few numbers the hand-made set pins down.
        def value(title: str, **variables: str | list[str]) -> list[tuple]:
            return run_panel(conn, by_title[title], time_from, time_to, variables)[1]

        assert value("Orders") == [(4,)]
        assert float(value("GMV")[0][0]) == pytest.approx(503.89)
        assert value("Customers") == [(2,)]  # c1 and c3 are the same person
        assert float(value("Late deliveries")[0][0]) == pytest.approx(1 / 3, abs=1e-4)
        assert value("GMV by state") == [("RJ", Decimal("288.99")), ("SP", Decimal("214.90"))]
        assert {row[0] for row in value("GMV by category (top 20)")} == {
            "health_beauty",
            "sports_leisure",
        }
        assert {row[0] for row in value("Payments by type")} == {"Credit card", "Boleto", "Voucher"}
        assert len(value("Monthly GMV and indicators")) == 2
        assert {row[0] for row in value("Sales and weather correlation per state")} == {"RJ", "SP"}
        assert {row[0] for row in value("Rainy and dry days per state", state="RJ")} == {"RJ"}
        assert {row[0] for row in value("Seconds since last batch")} == set(QUERIES)
        assert [row[0] for row in value("Quarantine rate")] != []
        assert {row[0]: row[3] for row in value("Latest reconciliation")} == {
            "gmv": True,
            "orders": True,
        }
        assert [row[:3] for row in value("Failing quality checks")] == [(1, 1, 1)]
        assert [row[:4] for row in value("Latest quality failures")] == [
            ("critical", "gold.daily_sales", "unique(sale_date, state, category)", 3),
            ("warning", "gold.sales_weather", "in_range(humidity_avg between 0 and 100)", 1),
        ]
        assert [row[:5] for row in value("Gold promotion")] == [
            ("gold.daily_sales", "refused", 4, 3, 120),
            ("gold.monthly_gmv", "promoted", 7, 7, 20),
            ("gold.sales_weather", "never run", None, None, None),
        ]
        # Outside the data's range the sales panels are empty, not failing.
        empty_from, empty_to = datetime(2010, 1, 1, tzinfo=UTC), datetime(2010, 2, 1, tzinfo=UTC)
        assert run_panel(conn, by_title["GMV per day"], empty_from, empty_to)[1] == []


def test_the_reader_writes_nothing(warehouse: Settings, secrets: Secrets) -> None:
    with connect(warehouse, secrets, role="reader") as conn:
        conn.autocommit = True
        with pytest.raises(InsufficientPrivilege):
            conn.execute(
                "INSERT INTO dw.fct_order (order_id, purchase_date, order_status, purchased_at)"
                " VALUES ('x', '2017-01-01', 'created', '2017-01-01')"
            )
        with pytest.raises(InsufficientPrivilege):
            conn.execute("DELETE FROM ops.stream_progress")
        with pytest.raises(InsufficientPrivilege):
            conn.execute("SELECT * FROM etl.batch_log")
        assert conn.execute("SELECT count(*) FROM dashboard.kpi_daily").fetchone() == (0,)


def test_the_loader_writes_rows_but_no_structure(warehouse: Settings, secrets: Secrets) -> None:
    with connect(warehouse, secrets, role="loader") as conn:
        conn.autocommit = True
        conn.execute("INSERT INTO dw.dim_category VALUES ('pet_shop', 'pet_shop')")
        conn.execute("SELECT dw.add_dates(ARRAY[date '2031-01-01'])")
        conn.execute(
            "INSERT INTO etl.batch_log (query_name, query_id, batch_id, changes)"
            " VALUES ('warehouse', gen_random_uuid(), 0, 1)"
        )
        assert conn.execute("SELECT count(*) FROM dw.dim_category").fetchone() == (1,)
        for statement in (
            "CREATE TABLE dw.scratch (x int)",
            "CREATE TABLE public.scratch (x int)",
            "CREATE VIEW dashboard.scratch AS SELECT 1 AS x",
            "ALTER TABLE dw.fct_order ADD COLUMN x int",
            "INSERT INTO public.schema_migrations (version, name, checksum)"
            " VALUES (999, 'x', repeat('0', 64))",
            "UPDATE public.schema_migrations SET checksum = repeat('0', 64)",
            "DELETE FROM public.schema_migrations",
        ):
            with pytest.raises(InsufficientPrivilege):
                conn.execute(statement)  # type: ignore[arg-type]
