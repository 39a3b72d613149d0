"""The warehouse load against the real PostgreSQL, in a database of the test's own: batches
claimed once, upserts on the grain, late dimension rows, deletes, reconciliation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from lakehouse.postgres import connect
from lakehouse.settings import Secrets, Settings
from tests.integration.pipeline_input import warehouse_snapshot as snapshot
from warehouse.sink import load_changes

QUERY = "warehouse"


@pytest.fixture
def loader(ns_settings: Settings, secrets: Secrets) -> Iterator[psycopg.Connection]:
    with connect(ns_settings, secrets, role="loader") as conn:
        conn.autocommit = True
        yield conn


def change(entity: str, key: tuple[str, ...], row: dict[str, Any], version: int = 1,
           deleted: bool = False) -> dict[str, Any]:  # fmt: skip
    keyed = json.dumps({k: row[k] for k in key})
    return {"entity": entity, "key": keyed, "row": json.dumps(row), "version": version,
            "deleted": deleted}  # fmt: skip


def order(order_id: str, status: str = "delivered", customer: str = "c1") -> dict[str, Any]:
    return change("orders", ("order_id",), {
        "order_id": order_id, "customer_id": customer, "order_status": status,
        "order_purchase_timestamp": "2017-10-02T10:56:33.000000",
        "order_approved_at": None, "order_delivered_carrier_date": None,
        "order_delivered_customer_date": "2017-10-10T21:25:13.000000",
        "order_estimated_delivery_date": "2017-10-18T00:00:00.000000",
    })  # fmt: skip


def item(order_id: str, n: int, product: str, price: str) -> dict[str, Any]:
    return change("order_items", ("order_id", "order_item_id"), {
        "order_id": order_id, "order_item_id": n, "product_id": product, "seller_id": "s1",
        "shipping_limit_date": None, "price": float(price), "freight_value": 8.72,
    })  # fmt: skip


def payment(order_id: str, seq: int, value: str) -> dict[str, Any]:
    return change("order_payments", ("order_id", "payment_sequential"), {
        "order_id": order_id, "payment_sequential": seq, "payment_type": "credit_card",
        "payment_installments": 1, "payment_value": float(value),
    })  # fmt: skip


def product(product_id: str, category: str) -> dict[str, Any]:
    fields = [f"product_{n}" for n in ("name_lenght", "description_lenght", "photos_qty",
              "weight_g", "length_cm", "height_cm", "width_cm")]  # fmt: skip
    return change("products", ("product_id",), {
        "product_id": product_id, "product_category_name": category, **dict.fromkeys(fields, 1)
    })  # fmt: skip


def customer(customer_id: str, state: str = "SP") -> dict[str, Any]:
    return change("customers", ("customer_id",), {
        "customer_id": customer_id, "customer_token": "v1:" + "ab" * 32,
        "customer_zip3": "013", "customer_city": "sao paulo", "customer_state": state,
    })  # fmt: skip


def weather(city_id: int, at: str, temp: float, rain: float | None) -> dict[str, Any]:
    return change("weather", ("city_id", "observed_at"), {
        "city_id": city_id, "observed_at": at, "state": "SP", "capital": "São Paulo",
        "condition": "Rain", "temp": temp, "humidity": 80.0, "pressure": 1012.0,
        "wind_speed": 3.0, "clouds": 75.0, "rain_1h": rain,
    })  # fmt: skip


def table(*changes: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(changes))


def test_a_batch_loads_once_and_the_same_changes_again_change_nothing(
    loader: psycopg.Connection,
) -> None:
    query_id = str(uuid.uuid4())
    batch = table(
        order("o1"), item("o1", 1, "p1", "100.10"), item("o1", 2, "p2", "50.00"),
        payment("o1", 1, "120.00"), payment("o1", 2, "47.54"), customer("c1"),
        product("p1", "beleza_saude"),
        change("category_translation", ("product_category_name",), {
            "product_category_name": "beleza_saude",
            "product_category_name_english": "health_beauty"}),
        change("sgs", ("series_code", "date"), {"series_code": 433, "date": "2017-10-01",
                                                "value": 0.42}),
        weather(3448439, "2017-10-02T12:00:00.000000", 20.0, 1.5),
        weather(3448439, "2017-10-02T15:00:00.000000", 24.0, None),
    )  # fmt: skip
    totals = {"orders": 1, "order_items": 2, "gmv": Decimal("150.10"), "freight": Decimal("17.44"),
              "payments": 2, "payment_value": Decimal("167.54"), "reviews": 0}  # fmt: skip
    result = load_changes(loader, QUERY, query_id, 0, batch, lambda versions: totals)
    assert result is not None and not result.mismatches, result
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
    assert loader.execute("SELECT is_late, delivery_days FROM dw.fct_order").fetchone() == (
        False, Decimal("8.44"))  # fmt: skip

    before = snapshot(loader)
    assert load_changes(loader, QUERY, query_id, 0, batch) is None  # a replay: skipped
    again = load_changes(loader, QUERY, str(uuid.uuid4()), 0, batch)  # same rows, new batch
    assert again is not None and again.written == 0, again.rows
    assert snapshot(loader) == before
    logged = loader.execute("SELECT count(*) FROM etl.batch_log WHERE committed_at IS NOT NULL")
    assert logged.fetchone() == (2,)
    matches = loader.execute("SELECT bool_and(matches), count(*) FROM ops.reconciliation")
    assert matches.fetchone() == (True, 7)


def test_late_dimensions_updates_and_deletes(loader: psycopg.Connection) -> None:
    query_id = str(uuid.uuid4())
    load_changes(
        loader, QUERY, query_id, 0, table(order("o1", "shipped"), item("o1", 1, "p9", "10"))
    )
    assert loader.execute("SELECT customer_id, is_inferred FROM dw.dim_customer").fetchall() == [
        ("c1", True)
    ]
    # the product and customer arrive later; the order moves on, twice within one batch
    delivered = order("o1", "delivered") | {"version": 3}
    load_changes(loader, QUERY, query_id, 1, table(
        product("p9", "moveis"), customer("c1", "RJ"), order("o1", "invoiced") | {"version": 2},
        delivered,
        change("category_translation", ("product_category_name",), {
            "product_category_name": "moveis", "product_category_name_english": "furniture"}),
    ))  # fmt: skip
    assert loader.execute(
        "SELECT p.category_en, p.is_inferred, c.state, c.is_inferred, o.order_status"
        " FROM dw.fct_order_item i JOIN dw.fct_order o USING (order_id)"
        " JOIN dw.dim_product p USING (product_id) JOIN dw.dim_customer c USING (customer_id)"
    ).fetchall() == [("furniture", False, "RJ", False, "delivered")]
    # an erased customer leaves the warehouse; the sale stays, without the person
    erased = customer("c1", "RJ") | {"version": 4, "deleted": True}
    result = load_changes(loader, QUERY, query_id, 2, table(erased))
    assert result is not None and result.rows["deletes"] == 1
    assert loader.execute("SELECT count(*) FROM dw.dim_customer").fetchone() == (0,)
    assert loader.execute("SELECT customer_id FROM dw.fct_order").fetchall() == [(None,)]
