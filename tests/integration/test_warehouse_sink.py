"""The warehouse load against the real PostgreSQL, in a database of the test's own: rows typed
by Spark as the stream sends them, batches claimed once, upserts on the grain, late dimension
rows, older records that arrive late, reconciliation."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from lakehouse.postgres import connect
from lakehouse.settings import Secrets, Settings
from streaming.silver_job import empty_silver
from streaming.warehouse_job import warehouse_tables
from tests.integration.pipeline_input import warehouse_snapshot as snapshot
from warehouse.sink import (
    MEASURES,
    WAREHOUSE_TOTALS,
    load_rows,
    mismatches,
    reconcile,
    record_versions,
)

QUERY = "ingest"
KEY = (1, b"k" * 32)
T0 = dt.datetime(2026, 1, 1, 12)


@pytest.fixture
def loader(ns_settings: Settings, secrets: Secrets) -> Iterator[psycopg.Connection]:
    with connect(ns_settings, secrets, role="loader") as conn:
        conn.autocommit = True
        yield conn


class Batch:
    """Silver rows of one micro-batch, by table, turned into the warehouse load's input."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def add(self, table: str, produced_at: dt.datetime = T0, **values: Any) -> Batch:
        event = f"e{sum(map(len, self.rows.values()))}-{uuid.uuid4().hex[:6]}"
        self.rows.setdefault(table, []).append(
            {"event_id": event, "produced_at": produced_at, **values}
        )
        return self

    def tables(self) -> dict[str, Any]:
        frames = {}
        for table, rows in self.rows.items():
            schema = empty_silver(self.spark, table, KEY).schema
            full = [{f.name: row.get(f.name) for f in schema} for row in rows]
            frames[table] = self.spark.createDataFrame(full, schema)
        return warehouse_tables(frames, self.spark, KEY)


def order(b: Batch, order_id: str, status: str = "delivered", customer: str = "c1",
          at: dt.datetime = T0) -> Batch:  # fmt: skip
    return b.add("orders", at, order_id=order_id, customer_id=customer, order_status=status,
                 order_purchase_timestamp=dt.datetime(2017, 10, 2, 10, 56, 33),
                 order_delivered_customer_date=dt.datetime(2017, 10, 10, 21, 25, 13),
                 order_estimated_delivery_date=dt.datetime(2017, 10, 18))  # fmt: skip


def item(b: Batch, order_id: str, n: int, product: str, price: str) -> Batch:
    return b.add("order_items", order_id=order_id, order_item_id=n, product_id=product,
                 seller_id="s1", price=Decimal(price), freight_value=Decimal("8.72"))  # fmt: skip


def payment(b: Batch, order_id: str, seq: int, value: str) -> Batch:
    return b.add("order_payments", order_id=order_id, payment_sequential=seq,
                 payment_type="credit_card", payment_installments=1,
                 payment_value=Decimal(value))  # fmt: skip


def product(b: Batch, product_id: str, category: str) -> Batch:
    sizes = {f"product_{n}": 1 for n in ("name_lenght", "description_lenght", "photos_qty",
             "weight_g", "length_cm", "height_cm", "width_cm")}  # fmt: skip
    return b.add("products", product_id=product_id, product_category_name=category, **sizes)


def customer(b: Batch, customer_id: str, state: str = "SP", at: dt.datetime = T0) -> Batch:
    return b.add("customers", at, customer_id=customer_id, customer_unique_id="person-1",
                 customer_zip3="013", customer_city="sao paulo", customer_state=state)  # fmt: skip


def weather(b: Batch, at: dt.datetime, temp: float, rain: float | None) -> Batch:
    return b.add("weather", city_id=3448439, observed_at=at, state="SP", capital="São Paulo",
                 condition="Rain", temp=temp, humidity=80.0, pressure=1012.0, wind_speed=3.0,
                 clouds=75.0, rain_1h=rain)  # fmt: skip


def test_a_batch_loads_once_and_the_same_rows_again_change_nothing(
    spark, loader: psycopg.Connection
) -> None:
    b = Batch(spark)
    order(b, "o1")
    item(b, "o1", 1, "p1", "100.10")
    item(b, "o1", 2, "p2", "50.00")
    payment(b, "o1", 1, "120.00")
    payment(b, "o1", 2, "47.54")
    customer(b, "c1")
    product(b, "p1", "beleza_saude")
    b.add("category_translation", product_category_name="beleza_saude",
          product_category_name_english="health_beauty")  # fmt: skip
    b.add("sgs", series_code=433, date=dt.date(2017, 10, 1), value=Decimal("0.42"))
    weather(b, dt.datetime(2017, 10, 2, 12), 20.0, 1.5)
    weather(b, dt.datetime(2017, 10, 2, 15), 24.0, None)
    tables = b.tables()
    query_id = str(uuid.uuid4())
    result = load_rows(loader, QUERY, query_id, 0, tables, {"orders": 3, "order_items": 5})
    assert result is not None and result.received == 11
    assert result.rows["fct_order_item"] == 2 and result.rows["fct_payment"] == 2

    gmv, paid = loader.execute(
        "SELECT (SELECT sum(price) FROM dw.fct_order_item),"
        " (SELECT sum(payment_value) FROM dw.fct_payment)"
    ).fetchone()
    assert (gmv, paid) == (Decimal("150.10"), Decimal("167.54"))
    # p2 came as an item before its product: an inferred member, p1 a described one
    assert loader.execute(
        "SELECT product_id, category_pt, category_en, is_inferred FROM dw.dim_product"
        " ORDER BY product_id"
    ).fetchall() == [("p1", "beleza_saude", "health_beauty", False), ("p2", None, None, True)]
    assert loader.execute(
        "SELECT observations, temp_avg, temp_min, temp_max, rain_mm FROM dw.fct_weather"
    ).fetchall() == [(2, 22.0, 20.0, 24.0, 1.5)]
    assert loader.execute(
        "SELECT is_late, delivery_days, purchased_at, source_produced_at FROM dw.fct_order"
    ).fetchone() == (False, Decimal("8.44"), dt.datetime(2017, 10, 2, 10, 56, 33), T0)
    token = loader.execute("SELECT customer_token FROM dw.dim_customer").fetchone()[0]
    assert token.startswith("v1:") and "person-1" not in token
    versions = loader.execute("SELECT source, version FROM etl.source_version ORDER BY 1")
    assert versions.fetchall() == [("order_items", 5), ("orders", 3)]

    before = snapshot(loader)
    assert load_rows(loader, QUERY, query_id, 0, tables) is None  # a replay: skipped
    again = load_rows(loader, QUERY, str(uuid.uuid4()), 0, tables)  # same rows, new batch
    assert again is not None and again.written == 0, again.rows
    assert snapshot(loader) == before
    logged = loader.execute("SELECT count(*) FROM etl.batch_log WHERE committed_at IS NOT NULL")
    assert logged.fetchone() == (2,)

    seen: list[dict[str, int]] = []
    totals = {"orders": 1, "order_items": 2, "gmv": Decimal("150.10"), "freight": Decimal("17.44"),
              "payments": 2, "payment_value": Decimal("167.54"), "reviews": 0}  # fmt: skip
    compared = reconcile(loader, query_id, 0, lambda versions: seen.append(versions) or totals)
    assert seen == [{"orders": 3, "order_items": 5}] and mismatches(compared) == []
    wrong = reconcile(loader, query_id, 1, lambda versions: totals | {"reviews": 1})
    assert mismatches(wrong) == ["reviews"]
    assert loader.execute("SELECT count(*), count(*) FILTER (WHERE matches)"
                          " FROM ops.reconciliation").fetchone() == (14, 13)  # fmt: skip


def test_a_batch_loaded_before_its_silver_writes_is_reconciled_after_them(
    spark, loader: psycopg.Connection, ns_settings: Settings, secrets: Secrets
) -> None:
    """The stream loads a batch, then writes silver and records the silver versions reached,
    inside ``settled``: a reconciliation meanwhile waits, so it never compares the batch's
    rows with a silver that does not hold them yet (a false mismatch)."""
    query_id, settled = str(uuid.uuid4()), threading.Lock()
    tables = item(order(Batch(spark), "o1"), "o1", 1, "p1", "10").tables()
    loaded, reconciling, finished = threading.Event(), threading.Event(), threading.Event()
    blocked: list[bool] = []

    def silver_totals(versions: Mapping[str, int]) -> dict[str, Any]:
        if versions.get("orders") != 7:  # silver before the batch: empty
            return dict.fromkeys(MEASURES, 0)
        return dict(zip(MEASURES, snapshot_totals(ns_settings, secrets), strict=True))

    def stream() -> None:
        with connect(ns_settings, secrets, role="loader") as conn, settled:
            conn.autocommit = True
            assert load_rows(conn, QUERY, query_id, 0, tables) is not None
            loaded.set()
            assert reconciling.wait(30)
            blocked.append(not finished.wait(0.5))  # silver's writes take a while
            record_versions(conn, {"orders": 7, "order_items": 4})

    writer = threading.Thread(target=stream)
    writer.start()
    assert loaded.wait(60)
    reconciling.set()
    compared = reconcile(loader, query_id, 0, silver_totals, settled)
    finished.set()
    writer.join(60)
    assert blocked == [True], "the reconciliation did not wait for the silver versions"
    assert mismatches(compared) == [], compared
    assert compared["orders"] == (Decimal(1), Decimal(1))


def snapshot_totals(settings: Settings, secrets: Secrets) -> tuple[Any, ...]:
    with connect(settings, secrets, role="loader") as conn:
        row = conn.execute(WAREHOUSE_TOTALS).fetchone()
    assert row is not None
    return tuple(row)


def test_late_dimensions_updates_and_older_records(spark, loader: psycopg.Connection) -> None:
    query_id = str(uuid.uuid4())
    first = item(order(Batch(spark), "o1", "shipped"), "o1", 1, "p9", "10")
    load_rows(loader, QUERY, query_id, 0, first.tables())
    assert loader.execute("SELECT customer_id, is_inferred FROM dw.dim_customer").fetchall() == [
        ("c1", True)
    ]
    # the product and customer arrive later; the order moves on, twice within one batch
    later = Batch(spark)
    product(later, "p9", "moveis")
    customer(later, "c1", "RJ", at=T0 + dt.timedelta(hours=1))
    order(later, "o1", "invoiced", at=T0 + dt.timedelta(minutes=1))
    order(later, "o1", "delivered", at=T0 + dt.timedelta(minutes=2))
    later.add("category_translation", product_category_name="moveis",
              product_category_name_english="furniture")  # fmt: skip
    load_rows(loader, QUERY, query_id, 1, later.tables())
    joined = (
        "SELECT p.category_en, p.is_inferred, c.state, c.is_inferred, o.order_status"
        " FROM dw.fct_order_item i JOIN dw.fct_order o USING (order_id)"
        " JOIN dw.dim_product p USING (product_id) JOIN dw.dim_customer c USING (customer_id)"
    )
    assert loader.execute(joined).fetchall() == [("furniture", False, "RJ", False, "delivered")]
    # records older than those loaded (a producer's backlog, read late) change nothing
    before = snapshot(loader)
    stale = Batch(spark)
    order(stale, "o1", "shipped", at=T0 + dt.timedelta(minutes=1, seconds=30))
    customer(stale, "c1", "SP", at=T0)
    result = load_rows(loader, QUERY, query_id, 2, stale.tables())
    assert result is not None and result.written == 0, result.rows
    assert snapshot(loader) == before
