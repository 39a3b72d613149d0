"""The OpenWeather current-weather poller of the 27 Brazilian state capitals (DESIGN.md
section 3), by latitude/longitude from the bundled ``producers/data/capitals.csv``.

Calls are paced by a sliding-window rate limiter (``weather.calls_per_minute``, retries
included) whose sleeps wake on the stop event. The API key comes from the secrets
(``openweather_api_key``) and only ever appears in the request itself.

Payload on ``weather.current`` (key ``"<city_id>|<dt>"``, the registry's natural key): the
response JSON unchanged (``coord``, ``weather``, ``main``, ``wind``, ``dt``, ``id``, ``name``,
…; optional fields such as ``rain`` or ``wind.gust`` may be missing) plus three fields:
``city_id`` (= ``id``), ``state`` and ``capital`` of the bundled row.

Rejects go to ``weather.dlq``: a body that is not a JSON object, or lacks ``dt``, ``coord`` or
``id`` (the key), with the raw body, the redacted URL as origin and the reason.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from lakehouse.kafka import ensure_topics
from lakehouse.registry import WEATHER_TOPIC, Topic, dlq_topic
from lakehouse.settings import Settings, load_secrets
from producers.daemon import PollResult
from producers.envelope import dead_letter, envelope
from producers.http import (
    REDACTED,
    FetchCancelled,
    FetchError,
    HttpFetcher,
    RateLimiter,
    redact,
)
from producers.sink import KafkaSink

log = logging.getLogger(__name__)

SOURCE, ENTITY = "weather", "current"
WEATHER_DLQ = dlq_topic(SOURCE)
SECRET_NAME = "openweather_api_key"
AUTH_STATUSES = (401, 403)  # a bad key fails every city: end the run


@dataclass(frozen=True)
class Capital:
    """A row of the bundled table; coordinates kept as written (they go into the URL)."""

    state: str
    capital: str
    lat: str
    lon: str


@dataclass(frozen=True)
class Rejected:
    """A response that goes to the DLQ: its raw body and why."""

    raw: str
    reason: str


def load_capitals() -> list[Capital]:
    """The 27 state capitals shipped as package data."""
    text = resources.files("producers").joinpath("data/capitals.csv").read_text(encoding="utf-8")
    return [Capital(**row) for row in csv.DictReader(io.StringIO(text))]


def weather_url(base_url: str, capital: Capital, api_key: str) -> str:
    query = urlencode({"lat": capital.lat, "lon": capital.lon, "appid": api_key, "units": "metric"})
    return f"{base_url.rstrip('/')}/data/2.5/weather?{query}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_weather(text: str, capital: Capital) -> dict[str, Any] | Rejected:
    """The payload of one answer, or why it goes to the DLQ."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return Rejected(text, f"response is not valid JSON: {exc}")
    if not isinstance(data, dict):
        return Rejected(text, "response is not a JSON object")
    for field in ("dt", "coord", "id"):
        if data.get(field) is None:
            return Rejected(text, f"missing field {field!r}")
    if not _is_int(data["dt"]):
        return Rejected(text, f"field 'dt' is not a unix timestamp: {data['dt']!r}")
    if not isinstance(data["coord"], dict):
        return Rejected(text, "field 'coord' is not an object")
    if not _is_int(data["id"]):
        return Rejected(text, f"field 'id' is not a city id: {data['id']!r}")
    return {**data, "city_id": data["id"], "state": capital.state, "capital": capital.capital}


def poll_once(
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    capitals: list[Capital] | None = None,
    limiter: RateLimiter | None = None,
    topic: Topic = WEATHER_TOPIC,
    dlq: Topic = WEATHER_DLQ,
) -> PollResult:
    """Poll every capital once and produce what came back. Pass the same ``limiter`` to
    successive runs (the daemon does) so the quota holds across them. Raises
    MissingSecretError when no API key is configured."""
    api_key = load_secrets(settings).require(SECRET_NAME)
    stop = stop or threading.Event()
    limiter = limiter or RateLimiter(settings.weather.calls_per_minute)
    capitals = load_capitals() if capitals is None else capitals
    result = PollResult("weather")
    ensure_topics(settings, [topic, dlq])
    sink = KafkaSink(settings, client_id="lakehouse-weather")
    try:
        with HttpFetcher(settings.weather.http, stop=stop, limiter=limiter) as http:
            for capital in capitals:
                if stop.is_set():
                    result.stopped = True
                    break
                result.requested += 1
                url = weather_url(settings.weather.base_url, capital, api_key)
                try:
                    fetched = http.get(url)
                except FetchCancelled:
                    result.stopped = True
                    break
                except FetchError as exc:
                    if exc.status in AUTH_STATUSES:
                        raise
                    log.error("%s (%s): %s", capital.capital, capital.state, exc)
                    result.failed += 1
                    continue
                if fetched is None:
                    log.info("%s (%s): no data (404)", capital.capital, capital.state)
                    result.skipped += 1
                    continue
                parsed = parse_weather(fetched.text, capital)
                if isinstance(parsed, Rejected):
                    raw = redact(parsed.raw).replace(api_key, REDACTED)  # an echoed key
                    record = dead_letter(SOURCE, raw, fetched.url, parsed.reason, ENTITY)
                    sink.send(dlq.name, fetched.url, record)
                else:
                    key, value = envelope(SOURCE, ENTITY, topic.natural_key, parsed)
                    sink.send(topic.name, key, value)
    finally:
        try:
            sink.close()
        finally:
            result.acked = sink.report.acked[topic.name]
            result.dead_lettered = sink.report.acked[dlq.name]
    return result
