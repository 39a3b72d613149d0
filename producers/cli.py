"""``lakehouse produce olist|synthetic|bcb|weather``: replay the Olist files, write a synthetic
set, or poll an API once or, with ``--daemon``, on the schedule from settings."""

from __future__ import annotations

import argparse
import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.settings import Settings, get_settings

if TYPE_CHECKING:  # the scheduler and Kafka client load only when a producer runs
    from producers.daemon import Job, PollResult


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def _run(settings: Settings, name: str, job: Job, schedule: str, daemon: bool) -> int:
    from producers.daemon import run_daemon, run_once
    from producers.sink import stop_on_signals

    if daemon:
        run_daemon(job, schedule, settings=settings, name=name)
        return 0
    result = run_once(settings, name, job, stop_on_signals())
    assert result is not None  # run_once raises instead of returning None here
    print(result.summary())
    return 1 if result.failed else 0


def cmd_produce_bcb(args: argparse.Namespace) -> int:
    from producers import bcb

    settings = get_settings()
    pending_since = [args.since] if args.since else []

    def job(stop: threading.Event) -> PollResult:
        # --since is a backfill: in daemon mode only the first run starts there.
        since = pending_since.pop() if pending_since else None
        return bcb.poll_once(settings, since=since, stop=stop)

    return _run(settings, "bcb", job, settings.bcb.schedule, args.daemon)


def cmd_produce_weather(args: argparse.Namespace) -> int:
    from producers import http, weather

    settings = get_settings()
    limiter = http.RateLimiter(settings.weather.calls_per_minute)  # shared by every run

    def job(stop: threading.Event) -> PollResult:
        return weather.poll_once(settings, stop=stop, limiter=limiter)

    return _run(settings, "weather", job, settings.weather.schedule, args.daemon)


def cmd_olist(args: argparse.Namespace) -> int:
    from producers.olist import OlistReplay
    from producers.sink import stop_on_signals

    report = OlistReplay(get_settings(), Path(args.data), stop_on_signals()).run(
        args.mode, args.speedup
    )
    print(report.summary())
    return 0


def cmd_synthetic(args: argparse.Namespace) -> int:
    from producers.synthetic import generate

    out = Path(args.out) if args.out else get_settings().home / "data" / f"synthetic-{args.seed}"
    manifest = generate(out, args.orders, args.seed, bad_rows=args.bad_rows)
    print(f"wrote {sum(manifest.rows.values())} rows for {args.orders} orders to {out}")
    return 0


def add_produce_commands(produce_sub: argparse._SubParsersAction) -> None:
    """Add ``olist``, ``synthetic``, ``bcb`` and ``weather`` under ``produce``."""
    p = produce_sub.add_parser("olist", help="replay the Olist CSV files into Kafka")
    p.add_argument("--data", required=True, help="folder with the Olist CSV files")
    p.add_argument("--mode", choices=["fast", "event-time"], default="fast")
    p.add_argument(
        "--speedup",
        type=float,
        default=86_400.0,
        help="event-time mode: shop seconds per real second (86400 = one day per second)",
    )
    p.set_defaults(func=cmd_olist)

    p = produce_sub.add_parser("synthetic", help="write a synthetic data set in the Olist format")
    p.add_argument("--orders", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--bad-rows", type=int, default=0, help="malformed rows to plant")
    p.add_argument("--out", help="output folder (default: <home>/data/synthetic-<seed>)")
    p.set_defaults(func=cmd_synthetic)

    p = produce_sub.add_parser("bcb", help="poll Banco Central SGS series (IPCA, Selic)")
    p.add_argument("--daemon", action="store_true", help="keep polling on settings.bcb.schedule")
    p.add_argument(
        "--since",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="backfill from this date, whatever the watermarks (default: after each watermark, "
        "else settings.bcb.since)",
    )
    p.set_defaults(func=cmd_produce_bcb)

    p = produce_sub.add_parser("weather", help="poll OpenWeather for the 27 state capitals")
    p.add_argument(
        "--daemon", action="store_true", help="keep polling on settings.weather.schedule"
    )
    p.set_defaults(func=cmd_produce_weather)
