"""The producer's handling of bad CSV input: an unbalanced quote does not swallow the rows
after it, a BOM inside a file and a repeated header are rejected, and a huge row or record
becomes a dead letter that still fits in one Kafka record."""

from __future__ import annotations

import json
from pathlib import Path

from lakehouse.registry import OLIST_ENTITIES
from producers.csv_records import BOM_INSIDE, CsvRecord, read_records
from producers.envelope import MAX_RAW_CHARS, MAX_RECORD_BYTES, dead_letter
from producers.olist import DLQ, to_row
from producers.olist_rows import check_row

ENTITY = {e.entity: e for e in OLIST_ENTITIES}
HEADER = ["review_id", "order_id", "review_comment_message"]


def _summary(records: list[CsvRecord]) -> list[tuple[int, list[str] | None, str | None]]:
    return [(r.line, r.fields, r.error) for r in records]


def test_an_unclosed_quote_is_rejected_alone_and_the_next_lines_are_read_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text(
        "review_id,order_id,review_comment_message\n"
        'r1,o1,"never closed\n'  # the quote runs into the next line and hits a quoted field
        'r2,o2,"fine"\n'
        'r3,o3,"a real\nmulti-line text"\n'
        'r4,o4,"closes on the next line with one column too many\n'
        'later",x,y\n'
        'r5,o5,"open until the end\n'
        "r6,o6,plain\n"
    )
    records = list(read_records(path, columns=3))
    assert _summary(records) == [
        (1, HEADER, None),
        (2, None, "malformed CSV: unbalanced quote on line 2 "
                  "(',' expected after '\"' when read through line 3)"),
        (3, ["r2", "o2", "fine"], None),
        (4, ["r3", "o3", "a real\nmulti-line text"], None),
        (6, None, "malformed CSV: unbalanced quote on line 6 "
                  "(expected 3 columns, got 5 when read through line 7)"),
        (7, ['later"', "x", "y"], None),
        (8, None, "malformed CSV: unbalanced quote on line 8 "
                  "(unexpected end of data when read through line 9)"),
        (9, ["r6", "o6", "plain"], None),
    ]  # fmt: skip
    assert records[1].raw == 'r1,o1,"never closed\n'
    # Each record's end offset is a record boundary: resuming there reads the same records.
    for number, before in enumerate(records):
        resumed = list(read_records(path, before.end_offset, before.last_line, columns=3))
        assert _summary(resumed) == _summary(records[number + 1 :])


def test_without_the_width_a_quote_closing_on_the_next_line_stays_one_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text('r4,o4,"two\nlines",x\n')
    assert _summary(list(read_records(path))) == [(1, ["r4", "o4", "two\nlines", "x"], None)]


def test_a_bom_inside_the_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(
        "\ufefforder_id,customer_id\nok,c1\n\ufefforder_id,customer_id\n"
        "\ufeffo2,c2\no3,c\ufeff3\no4,c4\n".encode()
    )
    assert _summary(list(read_records(path))) == [
        (1, ["order_id", "customer_id"], None),
        (2, ["ok", "c1"], None),
        (3, None, BOM_INSIDE),
        (4, None, BOM_INSIDE),
        (5, None, BOM_INSIDE),
        (6, ["o4", "c4"], None),
    ]


def test_a_repeated_header_line_is_rejected() -> None:
    header = ["customer_id", "customer_unique_id"]
    assert check_row(ENTITY["customers"], header, list(header)) == "repeated header line"
    assert check_row(ENTITY["customers"], header, ["customer_id", "u1"]) is None


def test_a_row_over_the_field_limit_becomes_a_dead_letter_that_fits_in_kafka(
    tmp_path: Path,
) -> None:
    path = tmp_path / "reviews.csv"
    huge = "r1,o1," + "x" * 1_048_576 + "\n"
    path.write_text(",".join(HEADER) + "\n" + huge + "r2,o2,ok\n")
    header, bad, good = read_records(path, columns=3)
    assert bad.error == "malformed CSV: field larger than field limit (131072)"
    assert good.fields == ["r2", "o2", "ok"]
    row = to_row(ENTITY["order_reviews"], header.fields or [], bad, "reviews.csv:2")
    letter = json.loads(row.value)
    assert row.topic == DLQ and len(row.value) < MAX_RECORD_BYTES
    assert letter["raw"] == huge[:MAX_RAW_CHARS] and letter["raw_chars"] == len(huge)


def test_a_dead_letter_keeps_short_raw_text_whole() -> None:
    letter = json.loads(dead_letter("olist", "a,b\n", "f.csv:2", "why", "orders"))
    assert letter["raw"] == "a,b\n" and "raw_chars" not in letter


def test_a_record_too_large_for_kafka_becomes_a_dead_letter() -> None:
    header = ["review_id", "order_id", *(f"c{i}" for i in range(8))]
    fields = ["r1", "o1", *("y" * 120_000 for _ in range(8))]
    record = CsvRecord(2, 0, ",".join(fields) + "\n", fields)
    row = to_row(ENTITY["order_reviews"], header, record, "reviews.csv:2")
    letter = json.loads(row.value)
    assert row.topic == DLQ and len(row.value) < MAX_RECORD_BYTES
    assert letter["reason"].startswith("record too large for Kafka: ")
    assert letter["reason"].endswith(f"bytes (at most {MAX_RECORD_BYTES})")
