"""The bad-input corpus (``tests/data/bad_input``, described in its README.md) through the real
producer, broker, bronze and silver, in a namespace of its own: every bad CSV row is in
``olist.dlq`` with its raw text, file:line and reason; every bad record is in
``silver.quarantine`` with its raw value, Kafka coordinates and reason; the good ones are in
silver; and per entity, good + rejected = input."""

from __future__ import annotations

import csv
import json
import logging
import shutil
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from batch.query import TableRef, delta_table, run_query
from lakehouse.postgres import connect
from lakehouse.registry import kafka_topic
from lakehouse.settings import Secrets, Settings
from producers.envelope import MAX_RAW_CHARS
from producers.olist import DLQ, OlistReplay
from producers.sink import KafkaSink
from security.runtime import masking_key
from streaming.bronze_job import ensure_bronze_table
from streaming.contracts import CONTRACTS
from streaming.ingest_job import start_ingest
from streaming.silver_job import QUARANTINE, ensure_silver_tables

pytestmark = pytest.mark.bad_input

log = logging.getLogger(__name__)

CORPUS = Path(__file__).parents[1] / "data" / "bad_input"
QUARANTINE_TABLE = f"silver.{QUARANTINE}"  # a destination in the manifest
QUERY_DEADLINE_S = 300


@dataclass(frozen=True)
class Corpus:
    """The manifest's CSV files (with their appended lines written) and the payloads."""

    files: list[dict[str, Any]]
    payloads: list[dict[str, Any]]
    data_dir: Path

    @property
    def entities(self) -> list[str]:
        return [f["entity"] for f in self.files]


def _filled(text: str, entry: dict[str, Any]) -> str:
    """``text`` with the entry's fill marker replaced by its repeated text (huge values are
    generated rather than committed)."""
    fill = entry.get("fill")
    return text.replace(fill["marker"], fill["text"] * fill["times"]) if fill else text


def _physical_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def load_corpus(data_dir: Path) -> Corpus:
    """Copy the CSV files to ``data_dir``, append the generated lines, read the payloads."""
    manifest = json.loads((CORPUS / "expected.json").read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    for spec in manifest["csv"]:
        target = data_dir / spec["file"]
        shutil.copyfile(CORPUS / spec["file"], target)
        for line in spec.get("appended", []):
            assert len(_physical_lines(target)) + 1 == line["line"], (spec["file"], line["line"])
            with target.open("ab") as handle:
                handle.write(_filled(line["text"], line).encode())
    payloads = json.loads((CORPUS / manifest["payloads"]).read_text())
    for entry in payloads:
        entry["value"] = _filled(entry["value"], entry)
    return Corpus(manifest["csv"], payloads, data_dir)


def send_payloads(settings: Settings, payloads: list[dict[str, Any]]) -> Counter[str]:
    """Every payload straight to its topic, as a faulty producer would send it."""
    sink = KafkaSink(settings, client_id="bad-input-test")
    for number, entry in enumerate(payloads):
        sink.send(entry["topic"], f"bad-input-{number}", entry["value"].encode())
    return sink.close().acked


def _await(query: StreamingQuery) -> None:
    try:
        finished = query.awaitTermination(QUERY_DEADLINE_S)
    finally:
        if query.isActive:
            query.stop()
    assert finished, f"{query.name} did not drain within {QUERY_DEADLINE_S} s"
    assert query.exception() is None, query.exception()


def run_ingest(
    spark: SparkSession, settings: Settings, secrets: Secrets, entities: list[str]
) -> None:
    """The ingest query (Kafka -> bronze.events -> silver -> the warehouse) over the corpus'
    topics, draining what is there (availableNow), in this process."""
    key = masking_key(settings)
    ensure_bronze_table(spark, settings)
    ensure_silver_tables(spark, settings, key, entities)
    topics = [*(f"olist.{e}" for e in entities), DLQ]
    _await(start_ingest(spark, settings, secrets, key, topics=topics, trigger="availableNow"))


def _rows(settings: Settings, secrets: Secrets, layer: str, name: str) -> list[dict[str, Any]]:
    """A lake table's rows, read with delta-rs (no Spark job: seconds saved per table)."""
    return delta_table(settings, secrets, TableRef(layer, name)).to_pyarrow_table().to_pylist()


def _key(payload: dict[str, Any], fields: tuple[str, ...]) -> str:
    return "|".join(str(payload.get(f)) for f in fields)


def _envelope_key(value: str | None, fields: tuple[str, ...]) -> str | None:
    """The natural key of an envelope's payload; None if ``value`` is not such an envelope."""
    try:
        return _key(json.loads(value or "")["payload"], fields)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _csv_payload(data_dir: Path, spec: dict[str, Any], line: int) -> dict[str, str]:
    """The record on physical ``line`` of a corpus file (one line), read with the csv module."""
    lines = _physical_lines(data_dir / spec["file"])
    header = next(csv.reader([lines[0].decode("utf-8-sig")]))
    fields = next(csv.reader([lines[line - 1].decode()]))
    return dict(zip(header, fields, strict=True))


def assert_dead_letters(corpus: Corpus, dead: list[dict[str, Any]]) -> None:
    """Every row the manifest sends to olist.dlq is there once, with the raw text of its
    physical line (cut at ``MAX_RAW_CHARS``), its file:line origin and its reason; no other."""
    by_origin = {d["origin"]: d for d in dead}
    assert len(by_origin) == len(dead), "an origin was dead-lettered twice"
    expected = {
        f"{spec['file']}:{r['line']}": (spec, r)
        for spec in corpus.files
        for r in spec["rejected"]
        if r["to"] == DLQ
    }
    assert set(by_origin) == set(expected)
    for origin, (spec, rejected) in expected.items():
        letter = by_origin[origin]
        line = _physical_lines(corpus.data_dir / spec["file"])[rejected["line"] - 1]
        raw = line.decode("utf-8", errors="backslashreplace")
        assert rejected["reason"] in letter["reason"], (origin, rejected["case"], letter["reason"])
        assert letter["entity"] == spec["entity"]
        assert letter["raw"] == raw[:MAX_RAW_CHARS], (origin, rejected["case"])
        assert letter.get("raw_chars", len(raw)) == len(raw)


def assert_quarantine(corpus: Corpus, quarantine: list[dict[str, Any]], settings: Settings) -> None:
    """Every CSV row (found by its natural key) and every payload (by its raw value) the
    manifest sends to silver.quarantine is there once, with its Kafka coordinates, stage and
    reason; nothing else is."""

    def one(topic: str, match: Callable[[str | None], bool], case: str) -> dict[str, Any]:
        found = [q for q in quarantine if q["topic"] == topic and match(q["raw_value"])]
        assert len(found) == 1, (case, len(found))
        row = found[0]
        coordinates = (row["partition"], row["offset"], row["kafka_timestamp"], row["seen_at"])
        assert None not in coordinates, case
        return row

    expected = 0
    for spec in corpus.files:
        entity, fields = spec["entity"], CONTRACTS[spec["entity"]].natural_key
        for rejected in (r for r in spec["rejected"] if r["to"] == QUARANTINE_TABLE):
            expected += 1
            row = one(
                kafka_topic(settings, f"olist.{entity}"),
                lambda value, key=rejected["key"], k=fields: _envelope_key(value, k) == key,
                rejected["case"],
            )
            assert rejected["reason"] in row["reason"], (rejected["case"], row["reason"])
            assert row["stage"] == f"silver.{entity}"
            payload = json.loads(row["raw_value"])["payload"]
            assert payload == _csv_payload(corpus.data_dir, spec, rejected["line"])
    for entry in (p for p in corpus.payloads if p["to"] == QUARANTINE_TABLE):
        expected += 1
        row = one(kafka_topic(settings, entry["topic"]), entry["value"].__eq__, entry["case"])
        assert entry["reason"] in row["reason"], (entry["case"], row["reason"])
    assert len(quarantine) == expected, sorted(q["reason"] for q in quarantine)


def test_bad_input_lands_in_dead_letters_or_quarantine_with_its_reason(
    spark: SparkSession, ns_settings: Settings, secrets: Secrets, tmp_path: Path
) -> None:
    corpus = load_corpus(tmp_path / "olist")
    report = OlistReplay(ns_settings, corpus.data_dir, threading.Event()).run("fast")
    sent = send_payloads(ns_settings, corpus.payloads)
    run_ingest(spark, ns_settings, secrets, corpus.entities)

    dead_letters, _ = run_query("SELECT value FROM bronze.olist_dlq", ns_settings, secrets)
    dead = [json.loads(r["value"]) for r in dead_letters.to_pylist()]
    quarantine = _rows(ns_settings, secrets, "silver", QUARANTINE)
    assert_dead_letters(corpus, dead)
    assert_quarantine(corpus, quarantine, ns_settings)
    assert report.acked[DLQ] == len(dead)

    # The good rows are in silver; per entity, good + dead-lettered + quarantined = input.
    for spec in corpus.files:
        entity, contract = spec["entity"], CONTRACTS[spec["entity"]]
        lines = len(_physical_lines(corpus.data_dir / spec["file"]))
        assert lines - 1 - len(spec["continuation_lines"]) == spec["records"], spec["file"]
        payloads = [p for p in corpus.payloads if p["topic"] == f"olist.{entity}"]
        good = [
            _key(r, contract.natural_key) for r in _rows(ns_settings, secrets, "silver", entity)
        ]
        assert Counter(good) == Counter(
            spec["good"] + [p["key"] for p in payloads if p["to"] == "silver"]
        ), entity
        topic = kafka_topic(ns_settings, f"olist.{entity}")
        rejected = sum(d["entity"] == entity for d in dead)
        rejected += sum(q["topic"] == topic for q in quarantine)
        assert len(good) + rejected == spec["records"] + len(payloads), entity
        dead_here = sum(r["to"] == DLQ for r in spec["rejected"])
        assert report.acked[f"olist.{entity}"] == spec["records"] - dead_here, entity
        assert sent[f"olist.{entity}"] == len(payloads), entity
    # the same batch loaded the warehouse: every quarantined record is an ops event, its
    # reason without the offending value
    with connect(ns_settings, secrets, role="reader") as conn:
        events = conn.execute('SELECT topic, "offset", reason FROM ops.quarantine_event')
        loaded = {(t, o): r for t, o, r in events.fetchall()}
    assert set(loaded) == {(q["topic"], q["offset"]) for q in quarantine}
    assert all(": " not in reason for reason in loaded.values()), loaded
    log.info("bad input: %d dead letters, %d quarantined", len(dead), len(quarantine))
