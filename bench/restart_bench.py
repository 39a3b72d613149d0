"""Restart after SIGKILL: the seconds from a SIGKILL of the streaming driver (its process group:
Python and the JVM) to its successor's first committed ingest batch, under the supervisor.

    .lakehouse/venv/bin/python -m bench.restart_bench [--orders 3000] [--kills 3]
        [--between 45]

Needs the stack up. In a namespace of its own (``bench-restart-<time>``) a synthetic Olist set
is replayed into Kafka in event time over the whole run (so every batch has records), and
``lakehouse stream --supervise --trigger "processingTime=1 second"`` runs. Each kill comes
``--between`` seconds after the previous batch committed (over the supervisor's healthy
period, so its backoff is back at 1 s) and waits for the next ``ingest batch`` line. Per kill:
seconds to the new driver's Spark session, to its ingest query's start, to the end of its first
batch, and that batch's own seconds, read from the application's log.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench.e2e_bench import start_cli, wait_for
from lakehouse.kafka import delete_topics, ensure_topics
from lakehouse.logs import configure_logging
from lakehouse.postgres import drop_database, ensure_database
from lakehouse.registry import all_topics
from lakehouse.settings import get_settings, load_secrets
from producers.synthetic import generate
from streaming.supervisor import read_driver_pid

STAMP = rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO "
MILESTONES = {
    "session": re.compile(STAMP + rb"lakehouse\.spark: spark session", re.M),
    "ingest started": re.compile(STAMP + rb"streaming\.progress: query ingest started", re.M),
    "first batch": re.compile(
        STAMP + rb"streaming\.ingest_job: ingest batch \d+: .*; ([\d.]+) s ", re.M
    ),
}
TRIGGER = "processingTime=1 second"


def _at(stamp: bytes) -> datetime:
    return datetime.strptime(stamp.decode(), "%Y-%m-%d %H:%M:%S,%f")


def _first(log_file: Path, offset: int, milestone: str) -> re.Match[bytes] | None:
    return MILESTONES[milestone].search(log_file.read_bytes()[offset:])


def restart_bench(orders: int, kills: int, between_s: float) -> list[dict[str, float]]:
    """``kills`` SIGKILLs of a supervised driver; the seconds of each restart (see module)."""
    base = get_settings()
    secrets = load_secrets(base)
    settings = base.model_copy(update={"namespace": f"bench-restart-{int(time.time())}"})
    ensure_database(settings, secrets)
    ensure_topics(settings, all_topics())
    log_file = Path(tempfile.gettempdir()) / f"{settings.namespace}-stream.log"
    data = Path(tempfile.mkdtemp(prefix="restart-bench-"))
    manifest = generate(data, orders, seed=11)
    first, last = manifest.first_purchase, manifest.last_purchase
    span_s = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    run_s = 120 + kills * (between_s + 90)  # the replay lasts the whole run
    producer = start_cli(settings, log_file, "produce", "olist", "--data", str(data), "--mode",
                    "event-time", "--speedup", f"{span_s / run_s:.0f}")  # fmt: skip
    app = start_cli(settings, log_file, "stream", "--supervise", "--trigger", TRIGGER)
    restarts = []
    try:
        wait_for(lambda: _first(log_file, 0, "first batch"), 600, "the first ingest batch", app)
        for number in range(1, kills + 1):
            offset = log_file.stat().st_size
            wait_for(lambda o=offset: _first(log_file, o, "first batch"), 300, "a batch", app)
            time.sleep(between_s)
            pid = read_driver_pid(settings)
            assert pid is not None, "no driver pid"
            offset, killed = log_file.stat().st_size, datetime.now()
            os.killpg(pid, signal.SIGKILL)
            wait_for(lambda o=offset: _first(log_file, o, "first batch"), 600, "a restart", app)
            found = {m: _first(log_file, offset, m) for m in MILESTONES}
            took = {m: (_at(f.group(1)) - killed).total_seconds() for m, f in found.items() if f}
            batch = found["first batch"]
            took["first batch alone"] = float(batch.group(2)) if batch else float("nan")
            restarts.append(took)
            print(f"kill {number}: " + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()),
                  flush=True)  # fmt: skip
    finally:
        for process in (app, producer):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    process.kill()
        drop_database(settings, secrets)
        delete_topics(settings, all_topics())
    return restarts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--between", type=float, default=45.0, help="seconds after a batch")
    args = parser.parse_args(argv)
    configure_logging()
    restarts = restart_bench(args.orders, args.kills, args.between)
    for milestone in restarts[0]:
        values = [r[milestone] for r in restarts if milestone in r]
        print(f"{milestone:>20}: median {statistics.median(values):5.1f} s "
              f"(runs: {', '.join(f'{v:.1f}' for v in values)})")  # fmt: skip
    print("target: first committed batch <= 30 s after the SIGKILL")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
