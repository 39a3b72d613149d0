"""The Banco Central do Brasil SGS poller (DESIGN.md section 3).

For each configured series it asks for windows of at most one year, from the day after the
series' watermark (the last date Kafka acknowledged) up to today in Brasília, so a restart
asks only for new dates. A window that answers 404 or ``[]`` has no data and advances nothing.

Payload on ``bcb.sgs`` (key ``"<series_code>|<date>"``, the registry's natural key)::

    {"series_code": 433,          # int, the SGS code
     "data": "01/05/2024",        # source field, as received
     "valor": "0.46",             # source field, as received
     "date": "2024-05-01",        # ISO date parsed from ``data``
     "value": "0.46"}             # the Decimal of ``valor`` as a plain string (no exponent)

Rejects go to ``bcb.dlq``: an item that is not an object, lacks ``data``/``valor``, has an
unparseable date or a non-numeric value (raw = that item's JSON text), or a body that is not a
JSON list (raw = the body); origin = the redacted URL, reason says which item and why.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lakehouse.kafka import ensure_topics
from lakehouse.registry import BCB_TOPIC, Topic, dlq_topic
from lakehouse.settings import Settings
from producers.daemon import PollResult, state_dir, write_json_atomic
from producers.envelope import dead_letter, envelope
from producers.http import FetchCancelled, FetchError, HttpFetcher, redact
from producers.sink import KafkaSink

log = logging.getLogger(__name__)

SOURCE, ENTITY = "bcb", "sgs"
BCB_DLQ = dlq_topic(SOURCE)
SGS_DATE = "%d/%m/%Y"
BRASILIA = timezone(timedelta(hours=-3))  # no daylight saving time since 2019


@dataclass(frozen=True)
class Window:
    """An inclusive date range asked for in one request."""

    start: date
    end: date


@dataclass(frozen=True)
class Rejected:
    """A record that goes to the DLQ: its raw text and why."""

    raw: str
    reason: str


def today_in_brasilia() -> date:
    return datetime.now(BRASILIA).date()


def add_years(day: date, years: int) -> date:
    """``day`` moved by whole years (29 February becomes 1 March)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def split_windows(start: date, end: date) -> list[Window]:
    """Consecutive windows covering [start, end], each at most one year long."""
    windows = []
    while start <= end:
        last = min(add_years(start, 1) - timedelta(days=1), end)
        windows.append(Window(start, last))
        start = last + timedelta(days=1)
    return windows


def series_url(base_url: str, code: int, window: Window) -> str:
    return (
        f"{base_url.rstrip('/')}/dados/serie/bcdata.sgs.{code}/dados?formato=json"
        f"&dataInicial={window.start.strftime(SGS_DATE)}&dataFinal={window.end.strftime(SGS_DATE)}"
    )


def parse_value(valor: Any) -> Decimal:
    """The Decimal of a SGS value (a string like ``"0.42"``; JSON numbers are accepted)."""
    if isinstance(valor, bool) or not isinstance(valor, (str, int, float)):
        raise ValueError(f"non-numeric valor {valor!r}")
    try:
        value = Decimal(str(valor).strip())
    except InvalidOperation:
        raise ValueError(f"non-numeric valor {valor!r}") from None
    if not value.is_finite():
        raise ValueError(f"non-numeric valor {valor!r}")
    return value


def parse_item(code: int, item: Any) -> dict[str, Any] | Rejected:
    """One item of a SGS answer as a payload, or why it is rejected."""
    raw = json.dumps(item, ensure_ascii=False)
    if not isinstance(item, dict):
        return Rejected(raw, "item is not a JSON object")
    for field in ("data", "valor"):
        if field not in item or item[field] is None:
            return Rejected(raw, f"missing field {field!r}")
    try:
        day = datetime.strptime(str(item["data"]).strip(), SGS_DATE).date()
    except ValueError:
        return Rejected(raw, f"unparseable date {item['data']!r} (expected dd/MM/yyyy)")
    try:
        value = parse_value(item["valor"])
    except ValueError as exc:
        return Rejected(raw, str(exc))
    return {
        "series_code": code,
        "data": item["data"],
        "valor": item["valor"],
        "date": day.isoformat(),
        "value": format(value, "f"),
    }


def parse_body(code: int, text: str) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """Payloads and rejects of one answer; an answer that is not a JSON list is one reject."""
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [Rejected(text, f"response is not valid JSON: {exc}")]
    if not isinstance(items, list):
        return [], [Rejected(text, "response is not a JSON list")]
    payloads, rejects = [], []
    for index, item in enumerate(items):
        parsed = parse_item(code, item)
        if isinstance(parsed, Rejected):
            rejects.append(Rejected(parsed.raw, f"item {index}: {parsed.reason}"))
        else:
            payloads.append(parsed)
    return payloads, rejects


# Watermarks: {"series": {"433": "2024-05-01", ...}} in <home>/state/bcb-watermarks.json.


def watermark_path(settings: Settings) -> Path:
    return state_dir(settings) / "bcb-watermarks.json"


def load_watermarks(path: Path) -> dict[int, date]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {int(code): date.fromisoformat(day) for code, day in data.get("series", {}).items()}


def save_watermarks(path: Path, marks: dict[int, date]) -> None:
    write_json_atomic(
        path, {"series": {str(code): day.isoformat() for code, day in sorted(marks.items())}}
    )


def start_date(code: int, marks: dict[int, date], since: date | None, default: date) -> date:
    """An explicit ``since`` (backfill) wins; else the day after the watermark; else default."""
    if since is not None:
        return since
    return marks[code] + timedelta(days=1) if code in marks else default


@dataclass
class WindowTrack:
    """Records sent for one window and how many Kafka acknowledged."""

    code: int
    expected: int
    last_date: date | None
    acked: int = 0

    def ack(self) -> None:
        self.acked += 1

    @property
    def complete(self) -> bool:
        return self.acked == self.expected


def advance(marks: dict[int, date], tracks: list[WindowTrack]) -> dict[int, date]:
    """New watermarks: per series, the last date of the leading run of fully acknowledged
    windows (in request order); a watermark never moves back."""
    new = dict(marks)
    blocked: set[int] = set()
    for track in tracks:
        if track.code in blocked:
            continue
        if not track.complete:
            blocked.add(track.code)
        elif track.last_date is not None and track.last_date > new.get(track.code, date.min):
            new[track.code] = track.last_date
    return new


def _send_window(
    sink: KafkaSink, topic: Topic, dlq: Topic, code: int, origin: str, text: str
) -> WindowTrack | None:
    """Produce one answer's records and rejects; None when it holds nothing (no data)."""
    payloads, rejects = parse_body(code, text)
    if not payloads and not rejects:
        return None
    last = max((date.fromisoformat(p["date"]) for p in payloads), default=None)
    track = WindowTrack(code, len(payloads) + len(rejects), last)
    for payload in payloads:
        key, value = envelope(SOURCE, ENTITY, topic.natural_key, payload)
        sink.send(topic.name, key, value, on_ack=track.ack)
    for reject in rejects:
        record = dead_letter(SOURCE, redact(reject.raw), origin, reject.reason, ENTITY)
        sink.send(dlq.name, origin, record, on_ack=track.ack)
    log.debug("%s: %d records, %d rejects", origin, len(payloads), len(rejects))
    return track


def _poll_series(
    http: HttpFetcher,
    sink: KafkaSink,
    settings: Settings,
    code: int,
    windows: list[Window],
    result: PollResult,
    tracks: list[WindowTrack],
    topics: tuple[Topic, Topic],
) -> None:
    for window in windows:
        if http.stop.is_set():
            result.stopped = True
            return
        result.requested += 1
        try:
            fetched = http.get(series_url(settings.bcb.base_url, code, window))
        except FetchCancelled:
            result.stopped = True
            return
        except FetchError as exc:
            log.error("series %d: %s; later windows wait for the next run", code, exc)
            result.failed += 1
            return
        track = None
        if fetched is not None:
            track = _send_window(sink, *topics, code, fetched.url, fetched.text)
        if track is None:
            result.skipped += 1
        else:
            tracks.append(track)


def poll_once(
    settings: Settings,
    *,
    since: date | None = None,
    today: date | None = None,
    stop: threading.Event | None = None,
    topic: Topic = BCB_TOPIC,
    dlq: Topic = BCB_DLQ,
) -> PollResult:
    """Ask for every configured series' new windows, produce, then advance the watermarks of
    the windows Kafka acknowledged. A window that fails for good ends its series' run (later
    windows would jump the watermark over it); the other series go on."""
    today = today or today_in_brasilia()
    result = PollResult("bcb")
    ensure_topics(settings, [topic, dlq])
    path = watermark_path(settings)
    marks = load_watermarks(path)
    tracks: list[WindowTrack] = []
    sink = KafkaSink(settings, client_id="lakehouse-bcb")
    try:
        with HttpFetcher(settings.bcb.http, stop=stop) as http:
            for code in settings.bcb.series:
                windows = split_windows(start_date(code, marks, since, settings.bcb.since), today)
                _poll_series(http, sink, settings, code, windows, result, tracks, (topic, dlq))
                if result.stopped:
                    break
    finally:
        try:
            sink.close()
        finally:
            new = advance(marks, tracks)
            if new != marks:
                save_watermarks(path, new)
            for code, day in sorted(new.items()):
                if marks.get(code) != day:
                    log.info("series %d: watermark %s -> %s", code, marks.get(code), day)
            result.acked = sink.report.acked[topic.name]
            result.dead_lettered = sink.report.acked[dlq.name]
    return result
