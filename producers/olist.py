"""Olist CSV replay: the public files, exactly as published, into one topic per entity.

Fast mode sends file after file (dimensions first). Event-time mode sends the dimensions, then
each order at its purchase time scaled by a speed-up factor, followed by its items, payments
and reviews. Rejected rows go to ``olist.dlq`` with file, line, raw text and reason. A ledger
of acknowledged positions makes a restart resume where the broker's acknowledgements stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lakehouse.errors import LakehouseError
from lakehouse.kafka import ensure_topics
from lakehouse.registry import OLIST_ENTITIES, OlistEntity, all_topics, dlq_topic
from lakehouse.settings import Settings
from producers.csv_records import CsvRecord, read_records
from producers.daemon import state_dir
from producers.envelope import MAX_RECORD_BYTES, dead_letter, envelope
from producers.ledger import Ledger, Position
from producers.olist_rows import check_header, check_row
from producers.sink import DeliveryReport, KafkaSink

log = logging.getLogger(__name__)

SOURCE = "olist"
DLQ = dlq_topic(SOURCE).name
FACTS = ("order_items", "order_payments", "order_reviews")


class ReplayError(LakehouseError):
    """The dataset cannot be replayed (missing folder, unusable header)."""


@dataclass(frozen=True)
class Row:
    """A record ready to send: its topic, key and value, or a dead letter."""

    topic: str
    key: str
    value: bytes


def to_row(entity: OlistEntity, header: list[str], record: CsvRecord, origin: str) -> Row:
    """The envelope for a good record; a dead letter for a bad one (pure)."""
    reason = record.error or check_row(entity, header, record.fields or [])
    if reason:
        return Row(DLQ, origin, dead_letter(SOURCE, record.raw, origin, reason, entity.entity))
    payload = dict(zip(header, record.fields or [], strict=True))
    key, value = envelope(SOURCE, entity.entity, entity.natural_key, payload)
    if len(value) > MAX_RECORD_BYTES:
        reason = f"record too large for Kafka: {len(value)} bytes (at most {MAX_RECORD_BYTES})"
        return Row(DLQ, origin, dead_letter(SOURCE, record.raw, origin, reason, entity.entity))
    return Row(entity.topic.name, key, value)


def present_entities(data_dir: Path) -> list[OlistEntity]:
    if not data_dir.is_dir():
        raise ReplayError(f"no Olist data folder at {data_dir}")
    found = [e for e in OLIST_ENTITIES if (data_dir / e.file_name).is_file()]
    if not any(e.entity == "orders" for e in found):
        raise ReplayError(f"{data_dir} has no {OLIST_ENTITIES[5].file_name}")
    return found


def read_header(entity: OlistEntity, path: Path) -> tuple[list[str], Position]:
    """The header of an Olist file and the position right after it; ReplayError if unusable."""
    first = next(read_records(path), None)
    if first is None or first.fields is None:
        raise ReplayError(f"{path.name}: no readable header")
    problem = check_header(entity, first.fields)
    if problem:
        raise ReplayError(f"{path.name}: {problem}")
    return first.fields, Position(records=0, offset=first.end_offset, line=first.last_line)


class OlistReplay:
    """One replay run over a data folder."""

    def __init__(self, settings: Settings, data_dir: Path, stop: threading.Event) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.stop = stop
        self.entities = present_entities(data_dir)
        self.ledger = Ledger(state_dir(settings) / "olist-replay-ledger.json")
        self.sink = KafkaSink(settings, client_id="lakehouse-olist-replay")

    def run(self, mode: str = "fast", speedup: float = 86_400.0) -> DeliveryReport:
        ensure_topics(self.settings, all_topics())
        try:
            if mode == "fast":
                for entity in self.entities:
                    self._send_file(entity)
            elif mode == "event-time":
                for entity in self.entities:
                    if entity.entity not in ("orders", *FACTS):
                        self._send_file(entity)
                self._send_in_event_time(speedup)
            else:
                raise ReplayError(f"unknown mode {mode!r}: fast or event-time")
        finally:
            report = self.sink.close()
            self.ledger.flush()
        log.info(
            "olist replay %s: %s", "stopped" if self.stop.is_set() else "done", report.summary()
        )
        return report

    # -- fast mode -------------------------------------------------------------------------
    def _records(self, entity: OlistEntity) -> Iterator[tuple[list[str], CsvRecord, int, int]]:
        """(header, record, seq, file size) of the records not yet acknowledged."""
        path = self.data_dir / entity.file_name
        size = path.stat().st_size
        header, after_header = read_header(entity, path)
        pos = self.ledger.position(str(path.resolve()), size)
        if pos.records == 0:
            pos = Position(0, after_header.offset, after_header.line, size)
        seq = pos.records
        for record in read_records(path, pos.offset, pos.line, columns=len(header)):
            seq += 1
            yield header, record, seq, size

    def _send_file(self, entity: OlistEntity) -> None:
        name = str((self.data_dir / entity.file_name).resolve())
        for header, record, seq, size in self._records(entity):
            if self.stop.is_set():
                return
            row = to_row(entity, header, record, f"{entity.file_name}:{record.line}")
            self.ledger.sent(name, seq, Position(seq, record.end_offset, record.last_line, size))
            self.sink.send(row.topic, row.key, row.value, self._ack(name, seq))

    def _ack(self, name: str, seq: int):
        return lambda: self.ledger.acked(name, seq)

    # -- event-time mode -------------------------------------------------------------------
    def _send_in_event_time(self, speedup: float) -> None:
        """Orders in purchase-time order, each followed by its items, payments and reviews;
        shop time runs ``speedup`` times faster than the wall clock. Dead letters go first,
        rows whose order is unknown last."""
        groups = self._event_time_groups()
        size = sum((self.data_dir / e.file_name).stat().st_size for e in self.entities)
        ledger_name = f"event-time:{self.data_dir.resolve()}"
        done = self.ledger.position(ledger_name, size).records
        # Shop time starts at the first group still to send: a resumed replay goes on at the
        # same pace instead of first waiting out the part sent before the restart.
        timed = [ts for ts, _ in groups[done:] if ts is not None]
        first_ts, started = (min(timed) if timed else 0.0), time.monotonic()
        for seq, (ts, rows) in enumerate(groups, start=1):
            if seq <= done:
                continue
            if ts is not None:
                due = (ts - first_ts) / speedup - (time.monotonic() - started)
                if due > 0 and self.stop.wait(min(due, 60)):
                    return
            if self.stop.is_set():
                return
            self.ledger.sent(ledger_name, seq, Position(seq, 0, 0, size))
            pending = {"n": len(rows)}

            def one_acked(seq: int = seq, pending: dict[str, int] = pending) -> None:
                pending["n"] -= 1
                if pending["n"] == 0:
                    self.ledger.acked(ledger_name, seq)

            for row in rows:
                self.sink.send(row.topic, row.key, row.value, one_acked)

    def _event_time_groups(self) -> list[tuple[float | None, list[Row]]]:
        """(purchase time or None, rows) groups in sending order (deterministic)."""
        dead: list[Row] = []
        related: dict[str, list[Row]] = defaultdict(list)
        orders: list[tuple[float, str, Row]] = []
        for entity in self.entities:
            if entity.entity not in ("orders", *FACTS):
                continue
            path = self.data_dir / entity.file_name
            header, after = read_header(entity, path)
            for record in read_records(path, after.offset, after.line, columns=len(header)):
                row = to_row(entity, header, record, f"{entity.file_name}:{record.line}")
                if row.topic == DLQ:
                    dead.append(row)
                    continue
                fields = dict(zip(header, record.fields or [], strict=True))
                if entity.entity == "orders":
                    orders.append((_timestamp(fields["order_purchase_timestamp"]), row.key, row))
                else:
                    related[fields["order_id"]].append(row)
        orders.sort(key=lambda o: (o[0], o[1]))
        groups: list[tuple[float | None, list[Row]]] = [(None, [row]) for row in dead]
        groups += [(ts, [row, *related.pop(order_id, [])]) for ts, order_id, row in orders]
        groups += [(None, related[order_id]) for order_id in sorted(related)]
        return groups


def _timestamp(text: str) -> float:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0
