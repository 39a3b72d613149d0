"""The bundled sample: everything the main job sends, without a network.

- Olist: a synthetic set from ``producers.synthetic`` (fixed seed, a few planted bad rows),
  replayed by the real Olist producer.
- BCB: ``producers/data/sgs_sample.json``, answers in the SGS API's format for IPCA (433) and
  the Selic target (432) over 2016-2018: the published monthly IPCA and the Copom target in
  force (first day of each month and each change), so the real-vs-nominal chart is meaningful.
  ``lakehouse produce bcb`` fetches the live series.
- Weather: one OpenWeather "current weather" answer per state capital per day of the sales'
  date span, at noon in Brasília, drawn from a seeded model (each region's wet season, rain
  amounts, temperature by latitude and season). ``lakehouse produce weather`` polls the live API.

BCB and weather answers go through the pollers' own parsers (``parse_body``,
``parse_weather``) and envelopes, so the pipeline sees exactly what the pollers would send.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from lakehouse.registry import BCB_TOPIC, WEATHER_TOPIC, dlq_topic
from producers.bcb import parse_body
from producers.envelope import dead_letter, envelope
from producers.sink import DeliveryReport, KafkaSink
from producers.synthetic import MANIFEST, Manifest, generate
from producers.weather import Capital, Rejected, load_capitals, parse_weather

log = logging.getLogger(__name__)

SAMPLE_ORDERS = 3000
SAMPLE_SEED = 2018
SAMPLE_BAD_ROWS = 12
NOON_BRASILIA_UTC_HOUR = 15
CITY_ID_BASE = 3_400_000  # sample city ids; the live API's ids differ
GLITCH_SHARE = 0.0005  # answers with an impossible reading, which silver quarantines
_GLITCHES = ({"main": {"temp": 75.0}}, {"main": {"humidity": 140}}, {"rain": {"1h": -1.0}})

# Months of each capital's rainy season (rough climatology by region).
_WET_MONTHS = {
    **dict.fromkeys(("AC", "AM", "AP", "PA", "RO", "RR", "TO"), (12, 1, 2, 3, 4, 5)),
    **dict.fromkeys(("MA", "PI", "CE"), (2, 3, 4, 5)),
    **dict.fromkeys(("RN", "PB", "PE", "AL", "SE", "BA"), (4, 5, 6, 7)),
    **dict.fromkeys(("DF", "GO", "MT", "MS", "MG", "ES", "RJ", "SP"), (10, 11, 12, 1, 2, 3)),
    **dict.fromkeys(("PR", "SC", "RS"), ()),  # rain all year round
}


@dataclass(frozen=True)
class SampleSent:
    """What the sample sent: the Olist manifest and the records acknowledged per topic."""

    manifest: Manifest
    report: DeliveryReport


def olist_sample(data_dir: Path, orders: int = SAMPLE_ORDERS, seed: int = SAMPLE_SEED) -> Manifest:
    """The synthetic Olist files in ``data_dir``: generated unless a set of the same size and
    seed is already there (a rerun sends nothing new)."""
    path = data_dir / MANIFEST
    if path.is_file():
        manifest = Manifest.load(path)
        if (manifest.seed, manifest.orders) == (seed, orders):
            return manifest
    log.info("generating a synthetic Olist set of %d orders in %s", orders, data_dir)
    return generate(data_dir, orders, seed=seed, bad_rows=SAMPLE_BAD_ROWS)


def sgs_answers() -> dict[int, str]:
    """The bundled SGS answers, series code -> response body."""
    text = resources.files("producers").joinpath("data/sgs_sample.json").read_text("utf-8")
    return {int(code): json.dumps(items) for code, items in json.loads(text).items()}


def _rain_mm(rng: random.Random, state: str, day: date) -> float:
    wet = _WET_MONTHS.get(state, ())
    chance = 0.35 if not wet else 0.55 if day.month in wet else 0.12
    return round(rng.expovariate(1 / 6), 1) if rng.random() < chance else 0.0


def _temperature(rng: random.Random, lat: float, day: date) -> float:
    """Warmer near the equator; southern capitals swing with the seasons."""
    season = math.cos(2 * math.pi * (day.timetuple().tm_yday - 15) / 365)  # 1 in January
    base = 27.5 - 0.45 * max(0.0, -lat - 8)
    swing = 0.25 * max(0.0, -lat - 8)
    return round(base + swing * season + rng.gauss(0, 1.5), 1)


def weather_answers(
    first: date, last: date, seed: int = SAMPLE_SEED
) -> Iterator[tuple[str, Capital]]:
    """(answer body, capital) for every capital on every day from ``first`` to ``last``."""
    rng = random.Random(f"lakehouse.sample.weather/{seed}")
    capitals = load_capitals()
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        moment = datetime(day.year, day.month, day.day, NOON_BRASILIA_UTC_HOUR, tzinfo=UTC)
        for number, capital in enumerate(capitals):
            rain = _rain_mm(rng, capital.state, day)
            body: dict[str, Any] = {
                "coord": {"lat": float(capital.lat), "lon": float(capital.lon)},
                "weather": [{"main": "Rain" if rain else "Clear"}],
                "main": {
                    "temp": _temperature(rng, float(capital.lat), day),
                    "humidity": max(10, min(100, int(rng.gauss(85 if rain else 65, 8)))),
                },
                "dt": int(moment.timestamp()),
                "id": CITY_ID_BASE + number,
                "name": capital.capital,
            }
            if rain:
                body["rain"] = {"1h": rain}
            if rng.random() < GLITCH_SHARE:  # a sensor's bad day
                for part, values in rng.choice(_GLITCHES).items():
                    body[part] = {**body.get(part, {}), **values}
            yield json.dumps(body, ensure_ascii=False), capital


def send_macro_and_weather(sink: KafkaSink, first: date, last: date) -> int:
    """Send the bundled IPCA/Selic answers and the sample weather for ``first``..``last``
    through the pollers' parsers; rejects go to the sources' dead-letter topics. Returns the
    number of records handed to the sink."""
    sent = 0
    for code, body in sgs_answers().items():
        payloads, rejects = parse_body(code, body)
        for payload in payloads:
            sink.send(BCB_TOPIC.name, *envelope("bcb", "sgs", BCB_TOPIC.natural_key, payload))
        for reject in rejects:
            value = dead_letter("bcb", reject.raw, "sample:sgs_sample.json", reject.reason, "sgs")
            sink.send(dlq_topic("bcb").name, str(code), value)
        sent += len(payloads) + len(rejects)
    for body, capital in weather_answers(first, last):
        parsed = parse_weather(body, capital)
        if isinstance(parsed, Rejected):
            value = dead_letter(
                "weather", body, f"sample:{capital.state}", parsed.reason, "current"
            )
            sink.send(dlq_topic("weather").name, capital.state, value)
        else:
            sink.send(
                WEATHER_TOPIC.name,
                *envelope("weather", "current", WEATHER_TOPIC.natural_key, parsed),
            )
        sent += 1
    return sent


def sales_span(manifest: Manifest) -> tuple[date, date]:
    """The first and last purchase day of a synthetic set."""
    first = datetime.fromisoformat(manifest.first_purchase).date()
    return first, datetime.fromisoformat(manifest.last_purchase).date()
