# ruff: noqa: E501 -- rows of expected data read best one per line
"""Gold transforms compared as whole DataFrames on a small hand-computed set."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from chispa import assert_df_equality

from streaming.gold import (
    TOUCH_SCHEMA,
    affected_days,
    daily_sales,
    monthly_gmv,
    sales_weather,
    touches,
)

D = dt.datetime


def _inputs(spark):
    orders = spark.createDataFrame(
        [
            ("o1", "c1", D(2018, 1, 5, 10), D(2018, 1, 7, 10), D(2018, 1, 10)),
            ("o2", "c2", D(2018, 1, 5, 12), D(2018, 1, 20, 12), D(2018, 1, 15)),
            ("o3", "c1", D(2018, 2, 1, 9), None, D(2018, 2, 20)),
        ],
        "order_id STRING, customer_id STRING, order_purchase_timestamp TIMESTAMP, "
        "order_delivered_customer_date TIMESTAMP, order_estimated_delivery_date TIMESTAMP",
    )
    customers = spark.createDataFrame(
        [("c1", "SP"), ("c2", "RJ")], "customer_id STRING, customer_state STRING"
    )
    products = spark.createDataFrame(
        [("p1", "brinquedos"), ("p2", None)], "product_id STRING, product_category_name STRING"
    )
    items = spark.createDataFrame(
        [("o1", "p1", Decimal("10.00"), Decimal("1.00")), ("o1", "p1", Decimal("20.00"), Decimal("2.00")),
         ("o2", "p2", Decimal("5.00"), Decimal("1.00")), ("o3", "p1", Decimal("10.00"), Decimal("0.00"))],
        "order_id STRING, product_id STRING, price DECIMAL(12,2), freight_value DECIMAL(12,2)",
    )  # fmt: skip
    reviews = spark.createDataFrame([("o1", 5), ("o2", 1)], "order_id STRING, review_score INT")
    return orders, items, customers, products, reviews


def test_daily_sales_by_state_and_category(spark) -> None:
    actual = daily_sales(*_inputs(spark))
    expected = spark.createDataFrame(
        [
            (dt.date(2018, 1, 5), "SP", "brinquedos", 1, 2, Decimal("30.00"), Decimal("3.00"), 2.0, 0.0, 5.0, Decimal("30.00")),
            (dt.date(2018, 1, 5), "RJ", "sem_categoria", 1, 1, Decimal("5.00"), Decimal("1.00"), 15.0, 1.0, 1.0, Decimal("5.00")),
            (dt.date(2018, 2, 1), "SP", "brinquedos", 1, 1, Decimal("10.00"), Decimal("0.00"), None, None, None, Decimal("10.00")),
        ],
        "sale_date DATE, state STRING, category STRING, orders LONG, items LONG, gmv DECIMAL(14,2), "
        "freight DECIMAL(14,2), avg_delivery_days DOUBLE, late_share DOUBLE, "
        "avg_review_score DOUBLE, avg_ticket DECIMAL(14,2)",
    )  # fmt: skip
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_monthly_gmv_deflated_by_ipca_with_selic(spark) -> None:
    daily = daily_sales(*_inputs(spark))
    indicators = spark.createDataFrame(
        [(433, dt.date(2018, 1, 1), Decimal("1.0")), (433, dt.date(2018, 2, 1), Decimal("2.0")),
         (432, dt.date(2018, 1, 3), Decimal("10.0")), (432, dt.date(2018, 1, 20), Decimal("12.0")),
         (432, dt.date(2018, 2, 8), Decimal("11.0"))],
        "series_code INT, date DATE, value DECIMAL(18,6)",
    )  # fmt: skip
    actual = monthly_gmv(daily, indicators)
    expected = spark.createDataFrame(
        [
            (dt.date(2018, 1, 1), Decimal("35.00"), Decimal("35.70"), Decimal("1.0"), 11.0),
            (dt.date(2018, 2, 1), Decimal("10.00"), Decimal("10.00"), Decimal("2.0"), 11.0),
        ],
        "month DATE, gmv_nominal DECIMAL(16,2), gmv_real DECIMAL(16,2), ipca_pct DECIMAL(18,6), "
        "selic_target_pct DOUBLE",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_sales_beside_weather(spark) -> None:
    daily = daily_sales(*_inputs(spark))
    weather = spark.createDataFrame(
        [("SP", D(2018, 1, 5, 9), 24.0, 80, 2.5), ("SP", D(2018, 1, 5, 15), 30.0, 60, None)],
        "state STRING, observed_at TIMESTAMP, temp DOUBLE, humidity INT, rain_1h DOUBLE",
    )
    actual = sales_weather(daily, weather)
    expected = spark.createDataFrame(
        [
            (dt.date(2018, 1, 5), "SP", 1, Decimal("30.00"), 27.0, 70.0, 2.5),
            (dt.date(2018, 1, 5), "RJ", 1, Decimal("5.00"), None, None, None),
            (dt.date(2018, 2, 1), "SP", 1, Decimal("10.00"), None, None, None),
        ],
        "sale_date DATE, state STRING, orders LONG, gmv DECIMAL(14,2), temp_avg DOUBLE, "
        "humidity_avg DOUBLE, rain_mm DOUBLE",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_changes_become_touches_and_touches_the_sale_dates_they_move(spark) -> None:
    orders, items, _, _, _ = _inputs(spark)
    changed_customers = spark.createDataFrame(
        [("c2", "RJ")], "customer_id STRING, customer_state STRING"
    )
    changed_products = spark.createDataFrame([("p1",)], "product_id STRING")
    changed_weather = spark.createDataFrame(
        [(D(2018, 3, 1, 15), "SP")], "observed_at TIMESTAMP, state STRING"
    )
    touched = (
        touches("customers", changed_customers)
        .unionByName(touches("products", changed_products))
        .unionByName(touches("weather", changed_weather))
    )
    expected = spark.createDataFrame(
        [("customers", None, "c2", None, None), ("products", None, None, "p1", None),
         ("weather", None, None, None, dt.date(2018, 3, 1))],
        TOUCH_SCHEMA,
    )  # fmt: skip
    assert_df_equality(touched, expected, ignore_nullable=True)

    days = affected_days(touched, orders, items)
    # c2 bought o2 on Jan 5th; p1 is in o1 (Jan 5th) and o3 (Feb 1st); weather moves no sale
    expected_days = spark.createDataFrame(
        [(dt.date(2018, 1, 5),), (dt.date(2018, 2, 1),)], "sale_date DATE"
    )
    assert_df_equality(days, expected_days, ignore_row_order=True, ignore_nullable=True)


def test_a_moved_order_touches_its_old_and_new_dates(spark) -> None:
    orders, items, _, _, _ = _inputs(spark)
    before_after = spark.createDataFrame(
        [("o3", "c1", D(2018, 2, 1, 9)), ("o3", "c1", D(2018, 2, 3, 9))],
        "order_id STRING, customer_id STRING, order_purchase_timestamp TIMESTAMP",
    )
    days = affected_days(touches("orders", before_after), orders, items)
    expected = spark.createDataFrame(
        [(dt.date(2018, 2, 1),), (dt.date(2018, 2, 3),)], "sale_date DATE"
    )
    assert_df_equality(days, expected, ignore_row_order=True, ignore_nullable=True)
