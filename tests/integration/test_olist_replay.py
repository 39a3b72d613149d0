"""The Olist CSV replay against the real broker: per topic, acknowledged = rows in the files
minus dead letters; the dead-letter topic holds exactly the planted bad rows; a replay killed
with SIGKILL and restarted delivers every row, re-sent rows carrying the same event_id."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from lakehouse.registry import OLIST_ENTITIES
from lakehouse.stack.process import wait_until
from producers.envelope import event_id, natural_key_of
from producers.olist import DLQ, OlistReplay
from producers.synthetic import generate

TOPICS = [e.topic.name for e in OLIST_ENTITIES] + [DLQ]


def _high_watermarks(settings) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": "hw"})
    try:
        marks = {}
        for topic, meta in consumer.list_topics(timeout=10).topics.items():
            if topic in TOPICS:
                for pid in meta.partitions:
                    marks[(topic, pid)] = consumer.get_watermark_offsets(
                        TopicPartition(topic, pid), timeout=10
                    )[1]
        return marks
    finally:
        consumer.close()


def _records_since(settings, before: dict[tuple[str, int], int]) -> dict[str, list[dict]]:
    """Every record written to the Olist topics after ``before``, decoded, per topic."""
    after = _high_watermarks(settings)
    todo = {tp: end for tp, end in after.items() if end > before.get(tp, 0)}
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": "replay-test"})
    consumer.assign([TopicPartition(t, p, before.get((t, p), 0)) for t, p in todo])
    found: dict[str, list[dict]] = defaultdict(list)

    def drained() -> bool:
        for msg in consumer.consume(1000, timeout=0.5):
            if msg.error() is None:
                found[msg.topic()].append(json.loads(msg.value()))
                if msg.offset() + 1 >= todo.get((msg.topic(), msg.partition()), 0):
                    todo.pop((msg.topic(), msg.partition()), None)
        return not todo

    try:
        wait_until(drained, deadline_s=300, what="the replayed records to be consumed", poll_s=0)
    finally:
        consumer.close()
    return found


def _expected_event_ids(data_dir: Path, bad: set[str]) -> dict[str, set[str]]:
    """Ground truth straight from the files with the csv module: the event ids per topic."""
    expected: dict[str, set[str]] = defaultdict(set)
    for entity in OLIST_ENTITIES:
        path = data_dir / entity.file_name
        if not path.exists():
            continue
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            line = reader.line_num
            for fields in reader:
                origin = f"{entity.file_name}:{line + 1}"
                line = reader.line_num
                if origin in bad:
                    continue
                payload = dict(zip(header, fields, strict=True))
                key = natural_key_of(payload, entity.natural_key)
                expected[entity.topic.name].add(event_id("olist", entity.entity, key, payload))
    return expected


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("olist")
    manifest = generate(data_dir, 100_000, seed=11, bad_rows=25)
    return data_dir, manifest


def test_replay_of_100k_orders_acks_every_good_row_and_dead_letters_the_bad(
    settings, dataset
) -> None:
    data_dir, manifest = dataset
    bad = {f"{b.file}:{b.line}" for b in manifest.bad_rows}
    assert len(bad) == 25
    before = _high_watermarks(settings)
    report = OlistReplay(settings, data_dir, threading.Event()).run("fast")

    expected = _expected_event_ids(data_dir, bad)
    for entity in OLIST_ENTITIES:
        topic = entity.topic.name
        if entity.file_name in manifest.rows:
            assert report.acked[topic] == manifest.rows[entity.file_name], topic
            assert report.acked[topic] == len(expected[topic]), topic
    assert report.acked[DLQ] == len(bad)

    written = _records_since(settings, before)
    for topic, ids in expected.items():
        seen = Counter(r["event_id"] for r in written[topic])
        assert set(seen) == ids, topic
        assert max(seen.values()) == 1, f"{topic}: a record was written twice"
    dead = written[DLQ]
    assert {d["origin"] for d in dead} == bad
    assert all(d["raw"] and d["reason"] for d in dead)


def test_kill_9_mid_replay_then_restart_delivers_every_row(settings, tmp_path: Path) -> None:
    data_dir = tmp_path / "olist"
    manifest = generate(data_dir, 20_000, seed=23, bad_rows=4)
    bad = {f"{b.file}:{b.line}" for b in manifest.bad_rows}
    before = _high_watermarks(settings)
    lakehouse = str(Path(sys.executable).parent / "lakehouse")
    argv = [lakehouse, "produce", "olist", "--data", str(data_dir)]
    ledger = settings.home / "state" / "olist-replay-ledger.json"
    orders_file = str((data_dir / "olist_orders_dataset.csv").resolve())

    errors = (tmp_path / "first.err").open("w")
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors)

    def orders_under_way() -> bool:
        if first.poll() is not None:
            raise AssertionError(
                "replay ended before it was killed: " + (tmp_path / "first.err").read_text()
            )
        state = json.loads(ledger.read_text()) if ledger.exists() else {}
        return state.get(orders_file, {}).get("records", 0) > 0

    wait_until(orders_under_way, deadline_s=120, what="the replay to reach the orders file")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(30)

    second = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert second.returncode == 0, second.stderr[-3000:]

    expected = _expected_event_ids(data_dir, bad)
    written = _records_since(settings, before)
    resent = 0
    for topic, ids in expected.items():
        seen = Counter(r["event_id"] for r in written[topic])
        assert set(seen) == ids, f"{topic}: lost {len(ids - set(seen))} rows"
        resent += sum(n - 1 for n in seen.values())
    assert {d["origin"] for d in written[DLQ]} == bad
    # The restart resumed from the ledger: far fewer re-sends than rows.
    assert resent < sum(len(ids) for ids in expected.values()) // 2
