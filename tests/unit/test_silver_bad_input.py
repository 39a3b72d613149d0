"""Silver's reasons for bad records, compared as whole DataFrames: values that are not JSON
objects, duplicate keys, envelopes of another schema version or without produced_at, text
where an object arrived, NUL characters, huge strings, timestamps and dates in other formats."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from streaming.contracts import CONTRACTS, MAX_VALUE_BYTES
from streaming.silver import parse_envelopes, quarantined_rows, type_payload, valid_rows

AT = dt.datetime(2026, 1, 2, 3, 4, 5)
SEEN = dt.datetime(2026, 1, 2, 3, 5, 0)
BRONZE_SCHEMA = "value STRING, topic STRING, partition INT, offset LONG, kafka_timestamp TIMESTAMP"
QUARANTINE_SCHEMA = (
    "raw_value STRING, topic STRING, partition INT, offset LONG, kafka_timestamp TIMESTAMP, "
    "stage STRING, reason STRING, seen_at TIMESTAMP"
)
TS = "(expected yyyy-MM-dd HH:mm:ss)"
ORDER = {
    "order_id": "o1", "customer_id": "c1", "order_status": "delivered",
    "order_purchase_timestamp": "2017-10-02 10:56:33", "order_approved_at": "",
}  # fmt: skip
CUSTOMER = {"customer_id": "c1", "customer_unique_id": "u1", "customer_city": "sao paulo"}


def _envelope(payload: object, **changes: object) -> str:
    body = {"event_id": "e1", "source": "olist", "entity": "x", "schema_version": 1,
            "produced_at": 1_700_000_000_000, "payload": payload}  # fmt: skip
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not None}, ensure_ascii=False)


def _split(spark, entity: str, values: list[str]):
    topic = f"olist.{entity}"
    bronze = spark.createDataFrame(
        [(v, topic, 0, i, AT) for i, v in enumerate(values)], BRONZE_SCHEMA
    )
    # cached as silver's job does: the good and the quarantined rows come from one evaluation
    typed = type_payload(parse_envelopes(bronze), CONTRACTS[entity]).cache()
    return valid_rows(typed), quarantined_rows(typed, f"silver.{entity}", F.lit(SEEN))


def _expected(spark, entity: str, values: list[str], reasons: dict[int, str]):
    rows = [
        (values[i], f"olist.{entity}", 0, i, AT, f"silver.{entity}", reason, SEEN)
        for i, reason in reasons.items()
    ]
    return spark.createDataFrame(rows, QUARANTINE_SCHEMA)


def test_envelopes_are_rejected_by_the_first_level_that_fails(spark) -> None:
    values = [
        _envelope(ORDER),
        '[{"event_id": "e1"}]',
        "null",
        '{"event_id": "e1", "event_id": "e2", "payload": {}}',
        _envelope(ORDER)[:-1] + ', "payload": {"order_id": "o2"}}',
        _envelope(ORDER).replace('"customer_id": "c1"', '"customer_id": "c1", "customer_id": "c2"'),
        '{"event_id": "e1", "payload": {"a": {"b": 1, "b": 2}}}',
        _envelope("o1"),
        _envelope(ORDER, event_id=" "),
        json.dumps({"no": "envelope"}),
        _envelope(ORDER, schema_version=2),
        _envelope(ORDER, schema_version="1"),
        _envelope(ORDER, schema_version=None, produced_at="2026-01-01T00:00:00Z"),
    ]
    good, quarantine = _split(spark, "orders", values)
    assert [r.event_id for r in good.collect()] == ["e1"]
    expected = _expected(spark, "orders", values, {
        1: "value is not a JSON object",
        2: "value is not a JSON object",
        3: "duplicate key event_id",
        4: "duplicate key payload",
        5: "duplicate key payload.customer_id",
        6: "value is not valid JSON",  # a duplicate deeper in: no key named
        7: "payload is not a JSON object",
        8: "envelope lacks event_id",
        9: "envelope lacks event_id; envelope lacks payload",
        10: "unsupported schema_version (expected 1): 2",
        11: 'unsupported schema_version (expected 1): "1"',
        12: "envelope lacks schema_version; "
            'produced_at is not epoch milliseconds: "2026-01-01T00:00:00Z"',
    })  # fmt: skip
    assert_df_equality(quarantine, expected, ignore_nullable=True, ignore_row_order=True)


@pytest.mark.timeout(180)  # a deadline: comparing every key with every other took hours here
def test_records_made_to_stall_the_parser_are_quarantined(spark) -> None:
    keys = ", ".join(f'"k{i}": {i}' for i in range(20_000))
    values = [
        _envelope(ORDER),
        '{"event_id": "e1", ' + keys + ', "k7": 0, "payload": {}}',
        _envelope({**ORDER, "order_id": "o" * MAX_VALUE_BYTES}),
        _envelope({**ORDER, "order_id": "o" * 100_000}),
    ]
    good, quarantine = _split(spark, "orders", values)
    assert [r.event_id for r in good.collect()] == ["e1"]
    expected = _expected(spark, "orders", values, {
        1: "duplicate key k7",
        2: f"value is larger than {MAX_VALUE_BYTES // 1024} KiB",
        3: "order_id longer than 256 characters",
    })  # fmt: skip
    assert_df_equality(quarantine, expected, ignore_nullable=True, ignore_row_order=True)


def test_fields_of_other_formats_or_types_or_too_long_are_quarantined(spark) -> None:
    orders = [
        _envelope({**ORDER, "order_purchase_timestamp": "2017-10-02T10:56:33"}),
        _envelope({**ORDER, "order_purchase_timestamp": "02/10/2017 10:56:33"}),
        _envelope({**ORDER, "order_purchase_timestamp": 1506941793}),
        _envelope({**ORDER, "order_approved_at": "2017-10-02 10:56:33.250"}),
        _envelope({**ORDER, "customer_id": {"id": "c1"}}),
        _envelope({**ORDER, "order_status": ["delivered"]}),
        _envelope({**ORDER, "order_id": "o" * 257}),
        _envelope({**ORDER, "order_status": "deliv\u0000ered"}),
        _envelope({**ORDER, "order_status": "[sic] {delivered}"}),
    ]
    good, quarantine = _split(spark, "orders", orders)
    assert [r.order_status for r in good.collect()] == ["[sic] {delivered}"]
    expected = _expected(spark, "orders", orders, {
        0: f"order_purchase_timestamp is not a timestamp {TS}: 2017-10-02T10:56:33",
        1: f"order_purchase_timestamp is not a timestamp {TS}: 02/10/2017 10:56:33",
        2: f"order_purchase_timestamp is not a timestamp {TS}: 1506941793",
        3: f"order_approved_at is not a timestamp {TS}: 2017-10-02 10:56:33.250",
        4: 'customer_id is not a string: {"id":"c1"}',
        5: 'order_status is not a string: ["delivered"]',
        6: "order_id longer than 256 characters",
        7: "order_status contains a NUL character",
    })  # fmt: skip
    assert_df_equality(quarantine, expected, ignore_nullable=True, ignore_row_order=True)

    customers = [
        _envelope({**CUSTOMER, "customer_birth_date": "1987-05-13"}),
        _envelope({**CUSTOMER, "customer_birth_date": "1987-05-13 00:00:00"}),
        _envelope({**CUSTOMER, "customer_birth_date": "13/05/1987"}),
        _envelope({**CUSTOMER, "customer_birth_date": "1987-05-13T00:00:00Z"}),
        _envelope({**CUSTOMER, "customer_city": "x" * 10_000}),
    ]
    good, quarantine = _split(spark, "customers", customers)
    assert [r.customer_birth_date for r in good.collect()] == [dt.date(1987, 5, 13)] * 2
    expected = _expected(spark, "customers", customers, {
        2: "customer_birth_date is not a date (expected yyyy-MM-dd): 13/05/1987",
        3: "customer_birth_date is not a date (expected yyyy-MM-dd): 1987-05-13T00:00:00Z",
        4: "customer_city longer than 256 characters",
    })  # fmt: skip
    assert_df_equality(quarantine, expected, ignore_nullable=True, ignore_row_order=True)


def test_review_texts_may_be_long_but_not_huge(spark) -> None:
    review = {"review_id": "r1", "order_id": "o1", "review_score": "5"}
    values = [
        _envelope({**review, "review_comment_message": "bom " * 2_500}),
        _envelope({**review, "review_id": "r2", "review_comment_message": "bom " * 2_501}),
    ]
    good, quarantine = _split(spark, "order_reviews", values)
    assert [r.review_id for r in good.collect()] == ["r1"]
    assert [r.reason for r in quarantine.collect()] == [
        "review_comment_message longer than 10000 characters"
    ]
