"""Producer throughput: the Olist CSV replay beside a bare confluent-kafka loop that sends the
same pre-serialised bytes, in the same run, against the stack's real broker.

    .lakehouse/venv/bin/python -m bench.producer_bench [--orders 20000] [--runs 3]

Needs the stack up (`lakehouse stack up`). Prints records/s for each, median of the runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.baselines import kafka_bare_loop, serialised_rows
from lakehouse.settings import get_settings
from producers.daemon import state_dir
from producers.olist import OlistReplay
from producers.synthetic import generate


def replay(data_dir: Path) -> tuple[float, int]:
    """Seconds and acknowledged records for a full fast replay of a fresh copy's ledger."""
    settings = get_settings()
    ledger = state_dir(settings) / "olist-replay-ledger.json"
    ledger.unlink(missing_ok=True)  # the bench replays the same files on every run
    began = time.perf_counter()
    report = OlistReplay(settings, data_dir, threading.Event()).run("fast")
    return time.perf_counter() - began, report.total_acked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        generate(data_dir, args.orders, seed=7)
        rows = serialised_rows(data_dir)
        bare, replays = [], []
        for _ in range(args.runs):
            bare.append(kafka_bare_loop(get_settings(), rows))
            seconds, acked = replay(data_dir)
            assert acked == len(rows), (acked, len(rows))
            replays.append(seconds)
    n = len(rows)
    print(f"{n:,} records ({args.orders:,} synthetic orders), median of {args.runs} runs")
    print(f"{'case':<34} {'seconds':>8} {'records/s':>12}")
    for name, times in (
        ("bare confluent-kafka loop", bare),
        ("Olist CSV replay (parse+send)", replays),
    ):
        median = statistics.median(times)
        print(f"{name:<34} {median:>8.2f} {n / median:>12,.0f}")
    print(
        f"replay / baseline throughput: {statistics.median(bare) / statistics.median(replays):.2f}"
    )


if __name__ == "__main__":
    main()
