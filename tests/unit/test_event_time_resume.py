"""The Olist replay in event time, stopped half way and started again, with a stand-in for
Kafka: every record is sent, and the second run goes on at the replay's pace from where the
first stopped instead of first waiting out the shop time already replayed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

from lakehouse.settings import Settings
from producers import olist
from producers.sink import DeliveryReport
from producers.synthetic import generate

SPAN_S = 100.0  # the replay of the whole set would take this long


class AckingSink:
    """Acknowledges every record at once; remembers the event ids sent."""

    sent: ClassVar[list[str]] = []

    def __init__(self, *_args: object, **_kwargs: object) -> None:
        self.report = DeliveryReport()

    def send(
        self, topic: str, key: str, value: bytes, on_ack: Callable[[], None] | None = None
    ) -> None:
        AckingSink.sent.append(json.loads(value).get("event_id", value.decode()))
        self.report.acked[topic] += 1
        if on_ack is not None:
            on_ack()

    def close(self) -> DeliveryReport:
        return self.report


class Clock:
    """A stop event whose waits return at once, recorded; ``stop_after`` waits, it is set."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.waits: list[float] = []
        self.stop_after = stop_after

    def is_set(self) -> bool:
        return self.stop_after is not None and len(self.waits) >= self.stop_after

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return self.is_set()


@pytest.fixture
def replay_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(olist, "KafkaSink", AckingSink)
    monkeypatch.setattr(olist, "ensure_topics", lambda *_args: [])
    AckingSink.sent = []


def test_a_stopped_event_time_replay_resumes_at_its_pace(tmp_path: Path, replay_env: None) -> None:
    data = tmp_path / "data"
    generate(data, 60, seed=11)
    settings = Settings(home=tmp_path / "home")
    groups = olist.OlistReplay(settings, data, Clock())._event_time_groups()  # type: ignore[arg-type]
    timed = [ts for ts, _ in groups if ts is not None]
    speedup = (max(timed) - min(timed)) / SPAN_S

    first = Clock(stop_after=30)
    olist.OlistReplay(settings, data, first).run("event-time", speedup)  # type: ignore[arg-type]
    sent_before = len(AckingSink.sent)
    resumed = Clock()
    olist.OlistReplay(settings, data, resumed).run("event-time", speedup)  # type: ignore[arg-type]

    expected = {e for _ts, rows in groups for e in (json.loads(r.value)["event_id"] for r in rows)}
    assert set(AckingSink.sent) >= expected  # nothing lost
    assert sent_before < len(AckingSink.sent)
    # The first run had replayed a good part of the shop time; the second goes on from there.
    replayed_s = max(first.waits)
    assert replayed_s > SPAN_S / 4
    assert resumed.waits and resumed.waits[0] < replayed_s / 2
    assert max(resumed.waits) <= SPAN_S - replayed_s + 1
