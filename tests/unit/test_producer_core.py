"""Envelopes, CSV records as published, row checks and the acknowledgement ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse.registry import OLIST_ENTITIES
from producers.csv_records import read_records
from producers.envelope import envelope, event_id
from producers.ledger import Ledger, Position
from producers.olist import DLQ, to_row
from producers.olist_rows import check_header, check_row

ENTITY = {e.entity: e for e in OLIST_ENTITIES}
ITEMS_HEADER = [
    "order_id", "order_item_id", "product_id", "seller_id", "shipping_limit_date", "price",
    "freight_value",
]  # fmt: skip


def test_event_id_is_deterministic_and_content_sensitive() -> None:
    payload = {"order_id": "a1", "order_status": "delivered"}
    first = event_id("olist", "orders", "a1", payload)
    assert first == event_id("olist", "orders", "a1", dict(reversed(payload.items())))
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != event_id("olist", "orders", "a1", {**payload, "order_status": "shipped"})
    assert first != event_id("olist", "customers", "a1", payload)


def test_envelope_fields_and_key() -> None:
    key, value = envelope(
        "olist",
        "order_items",
        ("order_id", "order_item_id"),
        {"order_id": "o1", "order_item_id": "2"},
    )
    record = json.loads(value)
    assert key == "o1|2"
    assert set(record) == {
        "event_id",
        "source",
        "entity",
        "schema_version",
        "produced_at",
        "payload",
    }
    assert record["payload"] == {"order_id": "o1", "order_item_id": "2"}
    assert record["source"] == "olist" and record["entity"] == "order_items"


def test_csv_records_as_published(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    text = (
        "\ufeffreview_id,order_id,review_comment_message\r\n"
        'r1,o1,"Ótimo, chegou antes\r\ndo prazo"\r\n'
        'r2,o2,""\r\n'
        "\r\n"
        "r3,o3,sem aspas\n"
    )
    path.write_bytes(text.encode() + b"r4,o4,\xff\xfe\n" + b'r5,o5,"nunca fecha\n')
    records = list(read_records(path))
    assert [r.line for r in records] == [1, 2, 4, 6, 7, 8]
    assert records[0].fields == ["review_id", "order_id", "review_comment_message"]
    assert records[1].fields == ["r1", "o1", "Ótimo, chegou antes\r\ndo prazo"]
    assert records[2].fields == ["r2", "o2", ""]
    assert records[4].fields is None and records[4].error == "invalid UTF-8"
    assert records[5].fields is None and "malformed CSV" in (records[5].error or "")
    assert records[5].raw == 'r5,o5,"nunca fecha\n'
    resumed = list(read_records(path, records[2].end_offset, 4))
    assert [r.line for r in resumed] == [6, 7, 8]
    assert resumed[0].fields == ["r3", "o3", "sem aspas"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (["o1", "1", "p", "s", "2018-01-01 00:00:00", "10.00", "1.00"], None),
        (["o1", "1", "p", "s", "2018-01-01 00:00:00", "10.00"], "expected 7 columns, got 6"),
        (
            ["", "1", "p", "s", "2018-01-01 00:00:00", "10.00", "1.00"],
            "missing natural key order_id",
        ),
        (["o1", "1", "p", "s", "x", "dez", "1.00"], "price is not a number: 'dez'"),
        (["o1", "1", "p", "s", "x", "", "1.00"], "missing price"),
        (["o1", "1", "p", "s", "x", "NaN", "1.00"], "price is not a number: 'NaN'"),
    ],
)
def test_row_checks(fields: list[str], reason: str | None) -> None:
    assert check_row(ENTITY["order_items"], ITEMS_HEADER, fields) == reason


def test_header_must_hold_the_natural_key() -> None:
    assert check_header(ENTITY["orders"], ["customer_id"]) == (
        "header lacks natural-key columns ['order_id']"
    )


def test_bad_row_becomes_a_dead_letter_with_raw_text_origin_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(",".join(ITEMS_HEADER) + "\n" + "o1,1,p,s,x,cem,1.00\n")
    header_record, bad = list(read_records(path))
    row = to_row(ENTITY["order_items"], header_record.fields, bad, "items.csv:2")
    record = json.loads(row.value)
    assert row.topic == DLQ and row.key == "items.csv:2"
    assert record["raw"] == "o1,1,p,s,x,cem,1.00\n"
    assert record["origin"] == "items.csv:2" and "price is not a number" in record["reason"]


def test_ledger_advances_only_over_contiguous_acks(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.json", flush_every_s=0)
    ledger.position("f.csv", size=100)
    for seq in (1, 2, 3, 4):
        ledger.sent("f.csv", seq, Position(seq, seq * 10, seq + 1, 100))
    ledger.acked("f.csv", 2)
    ledger.acked("f.csv", 4)
    assert ledger.position("f.csv", 100).records == 0
    ledger.acked("f.csv", 1)
    assert ledger.position("f.csv", 100) == Position(2, 20, 3, 100)
    ledger.acked("f.csv", 3)
    ledger.flush()
    reopened = Ledger(tmp_path / "ledger.json")
    assert reopened.position("f.csv", 100) == Position(4, 40, 5, 100)
    assert reopened.position("f.csv", 999) == Position(0, 0, 0, 999)  # the file changed
