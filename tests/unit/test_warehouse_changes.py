# ruff: noqa: E501 -- rows of expected data read best one per line
"""Warehouse change rows compared as whole DataFrames: pre-images dropped, deletes flagged,
the person's id tokenised, quarantine reasons without the offending values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from chispa import assert_df_equality

from security.masking import token
from streaming.warehouse_changes import CHANGE_SCHEMA, change_rows

KEY = (1, b"k" * 32)


def test_order_item_changes_keep_post_images_and_flag_deletes(spark) -> None:
    changes = spark.createDataFrame(
        [
            ("o1", 1, "p1", "s1", dt.datetime(2018, 1, 5, 10, 0, 0, 120000), Decimal("10.50"), Decimal("1.00"), "insert", 3),
            ("o1", 2, "p1", "s1", None, Decimal("5.00"), Decimal("0.00"), "update_preimage", 4),
            ("o1", 2, "p2", "s1", None, Decimal("6.00"), Decimal("0.00"), "update_postimage", 4),
            ("o2", 1, "p1", "s2", None, Decimal("1.00"), Decimal("0.00"), "delete", 5),
        ],
        "order_id STRING, order_item_id INT, product_id STRING, seller_id STRING, "
        "shipping_limit_date TIMESTAMP, price DECIMAL(12,2), freight_value DECIMAL(12,2), "
        "_change_type STRING, _commit_version LONG",
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            ("order_items", '{"order_id":"o1","order_item_id":1}', '{"order_id":"o1","order_item_id":1,"product_id":"p1","seller_id":"s1","shipping_limit_date":"2018-01-05T10:00:00.120000","price":10.50,"freight_value":1.00}', 3, False),
            ("order_items", '{"order_id":"o1","order_item_id":2}', '{"order_id":"o1","order_item_id":2,"product_id":"p2","seller_id":"s1","price":6.00,"freight_value":0.00}', 4, False),
            ("order_items", '{"order_id":"o2","order_item_id":1}', '{"order_id":"o2","order_item_id":1,"product_id":"p1","seller_id":"s2","price":1.00,"freight_value":0.00}', 5, True),
        ],
        CHANGE_SCHEMA,
    )  # fmt: skip
    actual = change_rows("order_items", changes, KEY)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_customer_changes_carry_a_token_not_the_person_id(spark) -> None:
    changes = spark.createDataFrame(
        [("c1", "person-1", "013", "sao paulo", "SP", "insert", 1)],
        "customer_id STRING, customer_unique_id STRING, customer_zip3 STRING, "
        "customer_city STRING, customer_state STRING, _change_type STRING, _commit_version LONG",
    )
    person = token("person-1", KEY[1], KEY[0])
    row = f'{{"customer_id":"c1","customer_token":"{person}","customer_zip3":"013","customer_city":"sao paulo","customer_state":"SP"}}'
    expected = spark.createDataFrame(
        [("customers", '{"customer_id":"c1"}', row, 1, False)], CHANGE_SCHEMA
    )
    actual = change_rows("customers", changes, KEY)
    assert_df_equality(actual, expected, ignore_nullable=True)
    assert "person-1" not in actual.first().row


def test_quarantine_rows_drop_the_offending_values(spark) -> None:
    quarantine = spark.createDataFrame(
        [("raw", "olist.customers", 0, 7, dt.datetime(2018, 1, 1), "silver.customers",
          "customer_birth_date is not a date: 31/02/1990; missing customer_id", dt.datetime(2026, 1, 1, 12))],
        "raw_value STRING, topic STRING, partition INT, offset LONG, kafka_timestamp TIMESTAMP, "
        "stage STRING, reason STRING, seen_at TIMESTAMP",
    )  # fmt: skip
    row = change_rows("quarantine", quarantine, KEY).first()
    assert (
        row.key == '{"topic":"olist.customers","partition":0,"offset":7,"stage":"silver.customers"}'
    )
    assert "31/02/1990" not in row.row and "raw" not in row.row
    assert '"reason":"customer_birth_date is not a date; missing customer_id"' in row.row
    assert (row.version, row.deleted) == (0, False)
