"""The BCB and OpenWeather pollers end to end: the real httpx client against a local HTTP server
that replays answers in the documented formats (normal, empty, 404, 500 then success, a
timeout, malformed JSON, bad items), the real Kafka broker, topics of this run only. Every
acknowledged record is in its topic exactly once, rejects carry raw text, origin and reason,
the watermark makes a second poll ask only for new dates, and the API key appears nowhere."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from lakehouse.errors import MissingSecretError
from lakehouse.kafka import admin_client
from lakehouse.registry import BCB_TOPIC, WEATHER_TOPIC, Topic, dlq_topic
from lakehouse.settings import BcbSettings, HttpSettings, Settings, WeatherSettings
from lakehouse.stack.process import wait_until
from producers import bcb, weather
from producers.daemon import read_health, run_once

KEY = "it0a1b2c3d4e5f60718293a4b5c6d7e8f9"  # a test OpenWeather key
HTTP = HttpSettings(
    timeout_s=1.0, max_attempts=4, backoff_initial_s=0.05, backoff_max_s=0.2, max_total_s=20
)
IPCA, SELIC, SELIC_DAILY, BROKEN = 990433, 990432, 990011, 990099  # test-only series codes


@dataclass
class Reply:
    status: int = 200
    body: str = ""
    delay_s: float = 0.0


@dataclass
class Replay:
    """Recorded answers per request path (consumed in order, the last one repeats; unknown
    paths answer 404) and the log of every path requested."""

    base_url: str = ""
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def answer(self, path: str) -> Reply:
        with self.lock:
            self.log.append(path)
            replies = self.routes.get(path)
            if not replies:
                return Reply(404, '{"error": "Value(s) not found"}')
            return replies.pop(0) if len(replies) > 1 else replies[0]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        reply = self.server.replay.answer(self.path)  # type: ignore[attr-defined]
        time.sleep(reply.delay_s)
        body = reply.body.encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out first

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def replay() -> Iterator[Replay]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.replay = Replay(f"http://127.0.0.1:{server.server_port}")  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.replay  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def topics(stack: Settings, run_id: str) -> Iterator[dict[str, Topic]]:
    """This run's own topics (deleted afterwards), keyed like the shared ones."""
    made = {
        "bcb": Topic(f"it.bcb.sgs.{run_id}", BCB_TOPIC.natural_key),
        "bcb_dlq": Topic(f"it.bcb.dlq.{run_id}", dlq_topic("bcb").natural_key),
        "weather": Topic(f"it.weather.current.{run_id}", WEATHER_TOPIC.natural_key),
        "weather_dlq": Topic(f"it.weather.dlq.{run_id}", dlq_topic("weather").natural_key),
    }
    yield made
    admin = admin_client(stack)  # kept referenced until every deletion has answered
    futures = admin.delete_topics([t.name for t in made.values()], operation_timeout=30)
    for name, future in futures.items():
        try:
            future.result(timeout=60)
        except KafkaException as exc:  # e.g. a topic a deselected test never created
            logging.getLogger(__name__).warning("test topic %s not deleted: %s", name, exc)


def _settings(settings: Settings, home: Path, base_url: str) -> Settings:
    return settings.model_copy(
        update={
            "home": home,
            "bcb": BcbSettings(
                base_url=base_url,
                series=(IPCA, SELIC, SELIC_DAILY, BROKEN),
                since=date(2023, 1, 1),
                http=HTTP,
            ),
            "weather": WeatherSettings(base_url=base_url, http=HTTP),
        }
    )


def read_topic(settings: Settings, topic: str) -> list[tuple[str, dict[str, Any]]]:
    """Every record of ``topic`` from the beginning to its current end: (key, JSON value)."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "group.id": f"it-pollers-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            for p in partitions
        }
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        position = {p: low for p, (low, _high) in ends.items()}
        records: list[tuple[str, dict[str, Any]]] = []

        def drained() -> bool:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                records.append((msg.key().decode(), json.loads(msg.value())))
                position[msg.partition()] = msg.offset() + 1
            return all(position[p] >= high for p, (_low, high) in ends.items())

        wait_until(drained, deadline_s=60, what=f"the end of topic {topic}", poll_s=0)
        return records
    finally:
        consumer.close()


def _sgs_path(code: int, start: str, end: str) -> str:
    return f"/dados/serie/bcdata.sgs.{code}/dados?formato=json&dataInicial={start}&dataFinal={end}"


def _sgs(*rows: tuple[str, str]) -> str:
    return json.dumps([{"data": d, "valor": v} for d, v in rows])


def _monthly(year: int, months: range, value: str = "0.42") -> list[tuple[str, str]]:
    return [(f"01/{m:02d}/{year}", value) for m in months]


def _assert_exactly_once(records: list[tuple[str, dict[str, Any]]], expected: int) -> None:
    ids = Counter(value["event_id"] for _key, value in records)
    assert len(ids) == expected and set(ids.values()) == {1}


def test_bcb_poller_produces_dead_letters_and_resumes_from_watermarks(
    settings: Settings, topics: dict[str, Topic], replay: Replay, tmp_path: Path
) -> None:
    config = _settings(settings, tmp_path, replay.base_url)
    y23, y24 = ("01/01/2023", "31/12/2023"), ("01/01/2024", "30/06/2024")
    daily = [("02/01/2023", "0.050788"), ("15/06/2023", "0.050788"), ("29/12/2023", "0.043739")]
    replay.add(_sgs_path(IPCA, *y23), Reply(body=_sgs(*_monthly(2023, range(1, 13)))))
    replay.add(_sgs_path(IPCA, *y24), Reply(body=_sgs(*_monthly(2024, range(1, 6)))))
    replay.add(  # a 500, then the answer; the 2024 window answers 404 (no data)
        _sgs_path(SELIC, *y23),
        Reply(500, "Internal Server Error"),
        Reply(body=_sgs(("01/02/2023", "13.75"), ("13/12/2023", "11.75"))),
    )
    replay.add(  # slower than the client's timeout once, then the answer; 2024 is []
        _sgs_path(SELIC_DAILY, *y23),
        Reply(body=_sgs(*daily), delay_s=2.5),
        Reply(body=_sgs(*daily)),
    )
    replay.add(_sgs_path(SELIC_DAILY, *y24), Reply(body="[]"))
    malformed = '[{"data": "02/01/2023", "valor": "13.65"'
    replay.add(_sgs_path(BROKEN, *y23), Reply(body=malformed))
    bad_items = [
        {"data": "02/01/2024", "valor": "11.65"},
        {"data": "03/01/2024"},
        {"data": "04/01/2024", "valor": "n/d"},
        {"data": "05/01/2024", "valor": "11.65"},
    ]
    replay.add(_sgs_path(BROKEN, *y24), Reply(body=json.dumps(bad_items)))
    names = {"topic": topics["bcb"], "dlq": topics["bcb_dlq"]}

    first = run_once(
        config,
        "bcb",
        lambda stop: bcb.poll_once(config, today=date(2024, 6, 30), stop=stop, **names),
        threading.Event(),
    )
    assert first is not None
    assert (first.requested, first.skipped, first.failed) == (8, 2, 0)
    assert (first.acked, first.dead_lettered) == (12 + 5 + 2 + 3 + 2, 3)
    assert replay.log.count(_sgs_path(SELIC, *y23)) == 2  # retried after the 500
    assert replay.log.count(_sgs_path(SELIC_DAILY, *y23)) == 2  # retried after the timeout
    assert bcb.load_watermarks(bcb.watermark_path(config)) == {
        IPCA: date(2024, 5, 1),
        SELIC: date(2023, 12, 13),
        SELIC_DAILY: date(2023, 12, 29),
        BROKEN: date(2024, 1, 5),
    }
    health = read_health(config, "bcb")
    assert health is not None and health["outcome"] == "ok" and health["counts"]["acked"] == 24

    records = read_topic(config, topics["bcb"].name)
    _assert_exactly_once(records, first.acked)
    by_key = {key: value for key, value in records}
    selic = by_key[f"{SELIC}|2023-12-13"]
    assert (selic["source"], selic["entity"], selic["schema_version"]) == ("bcb", "sgs", 1)
    assert selic["payload"] == {
        "series_code": SELIC,
        "data": "13/12/2023",
        "valor": "11.75",
        "date": "2023-12-13",
        "value": "11.75",
    }

    dead = read_topic(config, topics["bcb_dlq"].name)
    assert len(dead) == 3
    reasons = {value["reason"].split(":")[0]: value for _key, value in dead}
    assert reasons["response is not valid JSON"]["raw"] == malformed
    assert reasons["item 1"]["raw"] == json.dumps(bad_items[1])
    assert "missing field 'valor'" in reasons["item 1"]["reason"]
    assert "non-numeric valor 'n/d'" in reasons["item 2"]["reason"]
    for key, value in dead:
        assert key == value["origin"] and value["origin"].startswith(replay.base_url)
        assert f"bcdata.sgs.{BROKEN}" in value["origin"] and value["source"] == "bcb"

    # A restart asks only for dates after each watermark.
    seen = len(replay.log)
    replay.add(
        _sgs_path(IPCA, "02/05/2024", "31/08/2024"),
        Reply(body=_sgs(*_monthly(2024, range(6, 8)))),
    )
    replay.add(
        _sgs_path(SELIC, "14/12/2023", "31/08/2024"), Reply(body=_sgs(("31/07/2024", "10.50")))
    )
    second = bcb.poll_once(config, today=date(2024, 8, 31), **names)
    assert sorted(replay.log[seen:]) == sorted(
        [
            _sgs_path(IPCA, "02/05/2024", "31/08/2024"),
            _sgs_path(SELIC, "14/12/2023", "31/08/2024"),
            _sgs_path(SELIC_DAILY, "30/12/2023", "31/08/2024"),  # 404 now: no data yet
            _sgs_path(BROKEN, "06/01/2024", "31/08/2024"),
        ]
    )
    assert (second.requested, second.acked, second.dead_lettered, second.skipped) == (4, 3, 0, 2)
    marks = bcb.load_watermarks(bcb.watermark_path(config))
    assert marks[IPCA] == date(2024, 7, 1) and marks[SELIC] == date(2024, 7, 31)
    assert marks[SELIC_DAILY] == date(2023, 12, 29)  # no data: nothing advanced
    _assert_exactly_once(read_topic(config, topics["bcb"].name), first.acked + second.acked)


def _owm(capital: weather.Capital, city_id: int, dt: int, temp: float) -> dict[str, Any]:
    """A current-weather answer with the field set of DESIGN.md section 3."""
    return {
        "coord": {"lon": float(capital.lon), "lat": float(capital.lat)},
        "weather": [{"id": 803, "main": "Clouds", "description": "nublado", "icon": "04d"}],
        "base": "stations",
        "main": {
            "temp": temp,
            "feels_like": temp + 1.4,
            "temp_min": temp - 0.6,
            "temp_max": temp + 0.9,
            "pressure": 1012,
            "humidity": 79,
            "sea_level": 1012,
            "grnd_level": 1004,
        },
        "visibility": 10000,
        "wind": {"speed": 3.09, "deg": 120},
        "clouds": {"all": 75},
        "dt": dt,
        "sys": {
            "type": 1,
            "id": 8426,
            "country": "BR",
            "sunrise": dt - 21600,
            "sunset": dt + 21600,
        },
        "timezone": -10800,
        "id": city_id,
        "name": capital.capital,
        "cod": 200,
    }


def _weather_path(capital: weather.Capital) -> str:
    query = urlencode({"lat": capital.lat, "lon": capital.lon, "appid": KEY, "units": "metric"})
    return f"/data/2.5/weather?{query}"


def test_weather_poller_keeps_full_payloads_and_never_leaks_the_key(
    settings: Settings,
    topics: dict[str, Topic],
    replay: Replay,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("LAKEHOUSE_OPENWEATHER_API_KEY", KEY)
    config = _settings(settings, tmp_path, replay.base_url)
    rio_branco, maceio, macapa, manaus, salvador, fortaleza = weather.load_capitals()[:6]
    dt = 1717430400
    ok = {
        rio_branco: _owm(rio_branco, 9_900_001, dt, 24.1),
        maceio: {**_owm(maceio, 9_900_002, dt + 60, 27.3), "rain": {"1h": 0.42}},
        salvador: _owm(salvador, 9_900_005, dt + 120, 26.0),
    }
    ok[rio_branco]["wind"]["gust"] = 5.2
    replay.add(_weather_path(rio_branco), Reply(body=json.dumps(ok[rio_branco])))
    replay.add(_weather_path(maceio), Reply(body=json.dumps(ok[maceio])))
    no_dt = {k: v for k, v in _owm(macapa, 9_900_003, dt, 28.0).items() if k != "dt"}
    replay.add(_weather_path(macapa), Reply(body=json.dumps(no_dt)))
    echo = f"<html><body>Bad gateway for GET {_weather_path(manaus)}</body></html>"
    replay.add(_weather_path(manaus), Reply(body=echo))  # malformed, and echoes the key
    replay.add(_weather_path(salvador), Reply(503, "busy"), Reply(body=json.dumps(ok[salvador])))
    # Fortaleza has no recorded answer: 404, no data.

    result = weather.poll_once(
        config,
        capitals=[rio_branco, maceio, macapa, manaus, salvador, fortaleza],
        topic=topics["weather"],
        dlq=topics["weather_dlq"],
    )
    assert (result.requested, result.acked, result.dead_lettered) == (6, 3, 2)
    assert (result.skipped, result.failed) == (1, 0)
    assert replay.log.count(_weather_path(salvador)) == 2  # retried after the 503
    assert all(f"appid={KEY}" in path for path in replay.log)  # the key was sent

    records = read_topic(config, topics["weather"].name)
    _assert_exactly_once(records, 3)
    by_key = {key: value["payload"] for key, value in records}
    for capital, answer in ok.items():
        payload = by_key[f"{answer['id']}|{answer['dt']}"]
        extra = {"city_id": answer["id"], "state": capital.state, "capital": capital.capital}
        assert payload == {**answer, **extra}
    assert by_key[f"9900002|{dt + 60}"]["rain"] == {"1h": 0.42}

    dead = {
        value["reason"].split(":")[0]: value
        for _k, value in read_topic(config, topics["weather_dlq"].name)
    }
    assert dead["missing field 'dt'"]["raw"] == json.dumps(no_dt)
    assert dead["response is not valid JSON"]["raw"] == echo.replace(KEY, "***")
    for value in dead.values():
        assert value["origin"].startswith(replay.base_url + "/data/2.5/weather?lat=")
        assert "appid=***" in value["origin"] and value["source"] == "weather"

    everything = json.dumps([records, list(dead.values())])
    assert KEY not in everything
    assert "HTTP Request: GET" in caplog.text and "retry 1/3" in caplog.text
    assert KEY not in caplog.text
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_weather_poller_names_the_missing_secret(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAKEHOUSE_OPENWEATHER_API_KEY", raising=False)
    config = _settings(settings, tmp_path, "http://127.0.0.1:9")  # a home without a vault
    with pytest.raises(MissingSecretError, match="openweather_api_key"):
        weather.poll_once(config)
