# ruff: noqa: E501 -- rows of expected data read best one per line
"""Warehouse rows compared as whole DataFrames: one row per warehouse key (the newest record),
the person's id tokenised, quarantine reasons without the offending values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from chispa import assert_df_equality

from security.masking import token
from streaming.warehouse_rows import warehouse_rows

KEY = (1, b"k" * 32)
ITEM = (
    "event_id STRING, produced_at TIMESTAMP, order_id STRING, order_item_id INT, "
    "product_id STRING, seller_id STRING, shipping_limit_date TIMESTAMP, price DECIMAL(12,2), "
    "freight_value DECIMAL(12,2)"
)
T0 = dt.datetime(2026, 1, 1, 12)


def test_order_items_keep_the_newest_record_of_each_item(spark) -> None:
    later = T0 + dt.timedelta(seconds=1)
    silver = spark.createDataFrame(
        [
            ("e1", T0, "o1", 1, "p1", "s1", dt.datetime(2018, 1, 5, 10, 0, 0, 120000), Decimal("10.50"), Decimal("1.00")),
            ("e2", T0, "o1", 2, "p1", "s1", None, Decimal("5.00"), Decimal("0.00")),
            ("e3", later, "o1", 2, "p2", "s1", None, Decimal("6.00"), Decimal("0.00")),
            ("e5", later, "o2", 1, "p1", "s2", None, Decimal("1.00"), Decimal("0.00")),
            ("e4", later, "o2", 1, "p9", "s2", None, Decimal("9.00"), Decimal("0.00")),
        ],
        ITEM,
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            ("o1", 1, "p1", "s1", dt.datetime(2018, 1, 5, 10, 0, 0, 120000), Decimal("10.50"), Decimal("1.00"), T0),
            ("o1", 2, "p2", "s1", None, Decimal("6.00"), Decimal("0.00"), later),
            ("o2", 1, "p9", "s2", None, Decimal("9.00"), Decimal("0.00"), later),  # a tie: the lowest event id, as silver picks
        ],
        "order_id STRING, order_item_id INT, product_id STRING, seller_id STRING, "
        "shipping_limit_date TIMESTAMP, price DECIMAL(12,2), freight_value DECIMAL(12,2), "
        "produced_at TIMESTAMP",
    )  # fmt: skip
    actual = warehouse_rows("order_items", silver, KEY)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_customers_carry_a_token_not_the_person_id(spark) -> None:
    silver = spark.createDataFrame(
        [("e1", T0, "c1", "person-1", "013", "sao paulo", "SP", "v1:cpf-token")],
        "event_id STRING, produced_at TIMESTAMP, customer_id STRING, customer_unique_id STRING, "
        "customer_zip3 STRING, customer_city STRING, customer_state STRING, "
        "customer_cpf_token STRING",
    )
    person = token("person-1", KEY[1], KEY[0])
    expected = spark.createDataFrame(
        [("c1", person, "013", "sao paulo", "SP", T0)],
        "customer_id STRING, customer_token STRING, customer_zip3 STRING, "
        "customer_city STRING, customer_state STRING, produced_at TIMESTAMP",
    )
    actual = warehouse_rows("customers", silver, KEY)
    assert_df_equality(actual, expected, ignore_nullable=True)
    assert "person-1" not in str(actual.collect())


def test_quarantine_rows_drop_the_offending_values(spark) -> None:
    quarantine = spark.createDataFrame(
        [("raw", "olist.customers", 0, 7, dt.datetime(2018, 1, 1), "silver.customers",
          "customer_birth_date is not a date: 31/02/1990; missing customer_id", T0)],
        "raw_value STRING, topic STRING, partition INT, offset LONG, kafka_timestamp TIMESTAMP, "
        "stage STRING, reason STRING, seen_at TIMESTAMP",
    )  # fmt: skip
    expected = spark.createDataFrame(
        [("olist.customers", 0, 7, "silver.customers", T0,
          "customer_birth_date is not a date; missing customer_id")],
        "topic STRING, partition INT, offset LONG, stage STRING, seen_at TIMESTAMP, reason STRING",
    )  # fmt: skip
    actual = warehouse_rows("quarantine", quarantine, KEY)
    assert_df_equality(actual, expected, ignore_nullable=True)
