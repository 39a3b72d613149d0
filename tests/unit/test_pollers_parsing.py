"""The pollers' pure logic: BCB items and weather answers to payloads or DLQ reasons, URL
redaction, one-year windows, watermarks, the backoff schedule, rate limiting, schedules and
the daemon's run loop (with a fake job: no services)."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from lakehouse.errors import ConfigError, LakehouseError
from lakehouse.settings import HttpSettings, Settings, project_root
from lakehouse.stack.process import wait_until
from producers import bcb, weather
from producers.daemon import PollResult, parse_schedule, read_health, run_daemon
from producers.http import (
    FetchCancelled,
    FetchError,
    HttpFetcher,
    RateLimiter,
    backoff_ceiling,
    full_jitter,
    redact,
    redact_url,
)

KEY = "0123456789abcdef0123456789abcdef"
FAST = HttpSettings(
    timeout_s=2, max_attempts=4, backoff_initial_s=0.01, backoff_max_s=0.05, max_total_s=5
)


# BCB items and bodies


def test_bcb_item_becomes_a_payload_with_source_and_parsed_fields() -> None:
    assert bcb.parse_item(433, {"data": "01/05/2024", "valor": "0.46"}) == {
        "series_code": 433,
        "data": "01/05/2024",
        "valor": "0.46",
        "date": "2024-05-01",
        "value": "0.46",
    }
    assert bcb.parse_item(11, {"data": "02/01/2024", "valor": "1E+1"})["value"] == "10"
    assert bcb.parse_item(11, {"data": " 02/01/2024", "valor": 0.5})["value"] == "0.5"


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (["01/01/2024", "1"], "item is not a JSON object"),
        ({"valor": "1"}, "missing field 'data'"),
        ({"data": "01/01/2024"}, "missing field 'valor'"),
        ({"data": "01/01/2024", "valor": None}, "missing field 'valor'"),
        ({"data": "31/02/2024", "valor": "1"}, "unparseable date '31/02/2024'"),
        ({"data": "2024-01-01", "valor": "1"}, "unparseable date '2024-01-01'"),
        ({"data": "01/01/2024", "valor": "abc"}, "non-numeric valor 'abc'"),
        ({"data": "01/01/2024", "valor": ""}, "non-numeric valor ''"),
        ({"data": "01/01/2024", "valor": "NaN"}, "non-numeric valor 'NaN'"),
        ({"data": "01/01/2024", "valor": True}, "non-numeric valor True"),
        ({"data": "01/01/2024", "valor": {"x": 1}}, "non-numeric valor"),
    ],
)
def test_bad_bcb_items_are_rejected_with_raw_json_and_reason(item: object, reason: str) -> None:
    rejected = bcb.parse_item(433, item)
    assert isinstance(rejected, bcb.Rejected)
    assert rejected.reason.startswith(reason)
    assert json.loads(rejected.raw) == item


def test_bcb_body_mixes_payloads_and_indexed_rejects() -> None:
    body = json.dumps([{"data": "01/01/2024", "valor": "0.42"}, {"data": "01/02/2024"}, 7])
    payloads, rejects = bcb.parse_body(432, body)
    assert [p["date"] for p in payloads] == ["2024-01-01"]
    assert [r.reason for r in rejects] == [
        "item 1: missing field 'valor'",
        "item 2: item is not a JSON object",
    ]
    assert bcb.parse_body(432, "[]") == ([], [])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('[{"data": "01/01/2024"', "response is not valid JSON"),
        ('{"error": "x"}', "not a JSON list"),
    ],
)
def test_bcb_body_that_is_not_a_json_list_is_one_reject(body: str, reason: str) -> None:
    payloads, rejects = bcb.parse_body(432, body)
    assert payloads == [] and len(rejects) == 1
    assert rejects[0].raw == body and reason in rejects[0].reason


def test_bcb_url_has_the_documented_shape() -> None:
    window = bcb.Window(date(2023, 1, 1), date(2023, 12, 31))
    assert bcb.series_url("https://api.bcb.gov.br/", 433, window) == (
        "https://api.bcb.gov.br/dados/serie/bcdata.sgs.433/dados?formato=json"
        "&dataInicial=01/01/2023&dataFinal=31/12/2023"
    )


# Windows and watermarks


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2016, 1, 1), date(2024, 6, 30)),
        (date(2016, 2, 29), date(2021, 3, 1)),
        (date(2024, 3, 15), date(2024, 3, 15)),
        (date(2010, 7, 1), date(2025, 12, 31)),
    ],
)
def test_windows_are_contiguous_and_at_most_one_year(start: date, end: date) -> None:
    windows = bcb.split_windows(start, end)
    assert windows[0].start == start and windows[-1].end == end
    for window in windows:
        assert window.start <= window.end < bcb.add_years(window.start, 1)
    for before, after in itertools.pairwise(windows):
        assert after.start == before.end + timedelta(days=1)


def test_window_counts_and_empty_range() -> None:
    assert len(bcb.split_windows(date(2016, 1, 1), date(2024, 6, 30))) == 9
    assert bcb.split_windows(date(2016, 1, 1), date(2016, 12, 31)) == [
        bcb.Window(date(2016, 1, 1), date(2016, 12, 31))
    ]
    assert bcb.split_windows(date(2024, 7, 1), date(2024, 6, 30)) == []


def test_start_date_prefers_explicit_since_then_watermark_then_default() -> None:
    marks = {433: date(2024, 5, 1)}
    default = date(2016, 1, 1)
    assert bcb.start_date(433, marks, None, default) == date(2024, 5, 2)
    assert bcb.start_date(11, marks, None, default) == default
    assert bcb.start_date(433, marks, date(2020, 1, 1), default) == date(2020, 1, 1)


def _track(code: int, expected: int, acked: int, last: date | None) -> bcb.WindowTrack:
    return bcb.WindowTrack(code, expected, last, acked)


def test_watermark_advances_over_the_leading_acknowledged_windows_only() -> None:
    marks = {1: date(2020, 1, 1), 2: date(2023, 6, 1)}
    tracks = [
        _track(1, 3, 3, date(2020, 12, 31)),
        _track(1, 2, 2, None),  # only rejects: complete, no date
        _track(1, 5, 4, date(2022, 12, 31)),  # one record not acknowledged: stop here
        _track(1, 1, 1, date(2023, 12, 31)),
        _track(2, 1, 1, date(2021, 1, 1)),  # a backfill never moves a watermark back
        _track(3, 2, 2, date(2024, 2, 1)),
    ]
    assert bcb.advance(marks, tracks) == {
        1: date(2020, 12, 31),
        2: date(2023, 6, 1),
        3: date(2024, 2, 1),
    }
    assert marks == {1: date(2020, 1, 1), 2: date(2023, 6, 1)}  # not mutated


def test_watermarks_round_trip_atomically(tmp_path: Path) -> None:
    path = tmp_path / "state" / "bcb-watermarks.json"
    assert bcb.load_watermarks(path) == {}
    bcb.save_watermarks(path, {433: date(2024, 5, 1), 11: date(2024, 6, 28)})
    bcb.save_watermarks(path, {433: date(2024, 6, 1), 11: date(2024, 6, 28)})
    assert bcb.load_watermarks(path) == {433: date(2024, 6, 1), 11: date(2024, 6, 28)}
    assert json.loads(path.read_text()) == {"series": {"11": "2024-06-28", "433": "2024-06-01"}}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left over


# Weather answers and the capitals table

CAPITAL = weather.Capital("SC", "Florianópolis", "-27.5954", "-48.5480")
ANSWER = {
    "coord": {"lon": -48.548, "lat": -27.5954},
    "weather": [{"id": 500, "main": "Rain", "description": "light rain", "icon": "10d"}],
    "base": "stations",
    "main": {"temp": 22.4, "feels_like": 22.9, "pressure": 1014, "humidity": 83},
    "wind": {"speed": 4.1, "deg": 150},
    "dt": 1717430400,
    "id": 3463237,
    "name": "Florianópolis",
    "cod": 200,
}


def test_weather_answer_is_kept_whole_plus_key_and_capital() -> None:
    payload = weather.parse_weather(json.dumps(ANSWER), CAPITAL)
    assert payload == {**ANSWER, "city_id": 3463237, "state": "SC", "capital": "Florianópolis"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<html>502 Bad Gateway</html>", "response is not valid JSON"),
        ("[1, 2]", "response is not a JSON object"),
        (json.dumps({k: v for k, v in ANSWER.items() if k != "dt"}), "missing field 'dt'"),
        (json.dumps({k: v for k, v in ANSWER.items() if k != "coord"}), "missing field 'coord'"),
        (json.dumps({k: v for k, v in ANSWER.items() if k != "id"}), "missing field 'id'"),
        (json.dumps({**ANSWER, "dt": "2024-06-03"}), "field 'dt' is not a unix timestamp"),
        (json.dumps({**ANSWER, "coord": [1, 2]}), "field 'coord' is not an object"),
    ],
)
def test_bad_weather_answers_are_rejected_with_raw_body(body: str, reason: str) -> None:
    rejected = weather.parse_weather(body, CAPITAL)
    assert isinstance(rejected, weather.Rejected)
    assert rejected.raw == body and rejected.reason.startswith(reason)


def test_bundled_capitals_table_has_the_27_capitals_in_brazil() -> None:
    capitals = weather.load_capitals()
    assert len(capitals) == 27
    assert len({c.state for c in capitals}) == 27
    by_state = {c.state: c.capital for c in capitals}
    assert by_state["SP"] == "São Paulo" and by_state["DF"] == "Brasília"
    assert by_state["AP"] == "Macapá" and by_state["TO"] == "Palmas"
    for c in capitals:
        assert -34 < float(c.lat) < 6 and -74 < float(c.lon) < -28, c
    pyproject = (project_root() / "pyproject.toml").read_text()
    assert 'producers = ["data/*.csv", "data/*.json"]' in pyproject  # shipped as package data


# Redaction


def test_urls_and_messages_never_carry_the_api_key() -> None:
    url = weather.weather_url("https://api.openweathermap.org", CAPITAL, KEY)
    assert url == (
        "https://api.openweathermap.org/data/2.5/weather?lat=-27.5954&lon=-48.5480"
        f"&appid={KEY}&units=metric"
    )
    assert KEY not in redact_url(url)
    assert "appid=***&units=metric" in redact_url(url)
    assert (
        redact(f"GET x?APPID={KEY} and y?a=1&appid={KEY}") == "GET x?APPID=*** and y?a=1&appid=***"
    )
    assert redact_url(httpx.URL(f"http://h/p?appid={KEY}")) == "http://h/p?appid=***"
    assert KEY not in str(FetchError(f"failed: {url}"))
    assert isinstance(FetchError("x"), LakehouseError)


def test_httpx_request_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("httpx").info("HTTP Request: GET %s %s", f"http://h/w?appid={KEY}", "200")
    assert caplog.messages == ["HTTP Request: GET http://h/w?appid=*** 200"]


# Backoff, retries and rate limiting


def test_backoff_ceilings_double_up_to_the_cap_and_jitter_stays_inside() -> None:
    policy = HttpSettings(backoff_initial_s=1, backoff_max_s=30)
    assert [backoff_ceiling(policy, n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    for retry in range(1, 10):
        assert full_jitter(policy, retry, rng=lambda: 0.0) == 0.0
        assert full_jitter(policy, retry, rng=lambda: 1.0) == backoff_ceiling(policy, retry)
        assert 0 <= full_jitter(policy, retry) <= backoff_ceiling(policy, retry)
    worst = sum(backoff_ceiling(policy, n) for n in range(1, policy.max_attempts))
    assert worst == 1 + 2 + 4 + 8  # 5 attempts: 4 waits, each at most its ceiling


def _fetcher(handler, **kwargs: object) -> HttpFetcher:
    return HttpFetcher(FAST, client=httpx.Client(transport=httpx.MockTransport(handler)), **kwargs)


def test_fetch_classifies_statuses_and_gives_up_with_a_redacted_error() -> None:
    answers = iter([httpx.Response(503), httpx.Response(429), httpx.Response(200, text="[]")])
    with _fetcher(lambda _r: next(answers)) as http:
        fetched = http.get(f"http://h/ok?appid={KEY}")
        assert fetched is not None and fetched.text == "[]" and http.attempts == 3
        assert KEY not in fetched.url
    with _fetcher(lambda _r: httpx.Response(404)) as http:
        assert http.get("http://h/none") is None and http.attempts == 1
    with _fetcher(lambda _r: httpx.Response(401, text="Invalid API key")) as http:
        with pytest.raises(FetchError, match="HTTP 401") as err:
            http.get(f"http://h/w?appid={KEY}")
        assert err.value.status == 401 and http.attempts == 1 and KEY not in str(err.value)
    with _fetcher(lambda _r: httpx.Response(500)) as http:
        with pytest.raises(FetchError, match=r"failed after 4 attempts: HTTP 500") as err:
            http.get(f"http://h/w?appid={KEY}")
        assert "appid=***" in str(err.value) and err.value.status == 500


def test_fetch_retries_connection_errors_then_stops_on_the_event() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with _fetcher(refuse) as http, pytest.raises(FetchError, match="connection error"):
        http.get("http://h/x")
    stop = threading.Event()
    stop.set()
    with _fetcher(refuse, stop=stop) as http, pytest.raises(FetchCancelled):
        http.get("http://h/x")


def test_rate_limiter_spaces_calls_by_a_sliding_window() -> None:
    now = [100.0]
    limiter = RateLimiter(2, period_s=60, clock=lambda: now[0])
    stop = threading.Event()
    assert limiter.acquire(stop) and limiter.acquire(stop)
    assert limiter.delay() == 60
    now[0] += 45
    assert limiter.delay() == 15
    now[0] += 15
    assert limiter.delay() == 0


def test_rate_limiter_wait_honours_the_stop_event() -> None:
    limiter = RateLimiter(1, period_s=30)
    stop = threading.Event()
    assert limiter.acquire(stop)
    threading.Timer(0.2, stop.set).start()
    began = time.monotonic()
    assert limiter.acquire(stop) is False
    assert time.monotonic() - began < 5


# Schedules and the daemon


def test_schedules_are_intervals_or_crontabs() -> None:
    hourly = parse_schedule("1h")
    assert isinstance(hourly, IntervalTrigger) and hourly.interval == timedelta(hours=1)
    assert parse_schedule("90s").interval == timedelta(seconds=90)  # type: ignore[attr-defined]
    assert isinstance(parse_schedule("0 12 * * *"), CronTrigger)
    for bad in ("hourly", "0s", "61 * * * *"):
        with pytest.raises(ConfigError, match="schedule"):
            parse_schedule(bad)


def test_poll_result_outcome_and_summary() -> None:
    result = PollResult("bcb", requested=3, acked=40, dead_lettered=2, skipped=1)
    assert result.outcome == "ok"
    assert result.summary().startswith("bcb ok; requested 3, acked 40, dead_lettered 2")
    result.failed = 1
    assert result.outcome == "partial"


def test_daemon_survives_a_failing_run_never_overlaps_and_records_health(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    settings = Settings(home=tmp_path)
    calls, running, overlap = [], [0], [0]
    lock = threading.Lock()

    def job(stop: threading.Event) -> PollResult:
        with lock:
            running[0] += 1
            overlap[0] = max(overlap[0], running[0])
            calls.append(time.monotonic())
        try:
            stop.wait(0.5)  # longer than the interval: the next runs must wait
            if len(calls) == 1:
                raise RuntimeError(f"upstream down for {redact_url('http://h?appid=' + KEY)}")
            return PollResult("fake", requested=2, acked=5)
        finally:
            with lock:
                running[0] -= 1

    stop = threading.Event()
    daemon = threading.Thread(
        target=run_daemon,
        args=(job, "0.2s"),
        kwargs={"settings": settings, "name": "fake", "stop": stop},
    )
    daemon.start()
    try:
        wait_until(lambda: len(calls) >= 3, deadline_s=20, what="three daemon runs")
    finally:
        stop.set()
        daemon.join(timeout=20)
    assert not daemon.is_alive()
    assert overlap[0] == 1
    health = read_health(settings, "fake")
    assert health is not None and health["outcome"] == "ok"
    assert health["counts"]["acked"] == 5 and health["last_success_at"]
    text = caplog.text
    assert "fake run failed" in text and "fake run ok; requested 2, acked 5" in text
    assert KEY not in text
