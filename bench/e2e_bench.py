"""End to end: a synthetic Olist set of about ``--events`` records, from the first record the
producer sends to the last order, item and payment in the PostgreSQL warehouse, with the
streaming application already running as a service (``processingTime`` trigger).

    .lakehouse/venv/bin/python -m bench.e2e_bench [--events 550000] [--runs 3]

Each run has a namespace of its own (``bench-e2e-<time>-<n>``). Before the clock: the
application runs once with ``availableNow`` on the empty topics (creating every table), then
starts as a service; the clock starts when all four queries have started. The producer runs
as its own process (`lakehouse produce olist --mode fast`). Per run: end-to-end seconds,
events/s, the producer's seconds, each query's rows and seconds in micro-batches (from
ops.stream_progress) and the peak PSS of every process of the stack.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.memory import PeakMemory, tree
from lakehouse.kafka import delete_topics, ensure_topics
from lakehouse.postgres import connect, drop_database, ensure_database
from lakehouse.registry import all_topics
from lakehouse.settings import Secrets, Settings, get_settings, load_secrets
from lakehouse.stack import control
from producers.synthetic import Manifest, generate

log = logging.getLogger(__name__)

QUERY_STARTED = re.compile(rb"INFO streaming\.progress: query (\w+) started")
QUERIES = {"ingest", "gold"}
COUNTS = "SELECT (SELECT count(*) FROM dw.fct_order), (SELECT count(*) FROM dw.fct_order_item),"
COUNTS += " (SELECT count(*) FROM dw.fct_payment)"


def sized_set(folder: Path, events: int, seed: int, tolerance: float = 0.02) -> Manifest:
    """A synthetic set of about ``events`` records (within ``tolerance``) in ``folder``.

    Records per order fall as the set grows (geolocation and sellers saturate), so the order
    count is corrected from each generated set until the total lands within the tolerance."""
    orders = max(1, round(events / 8.0))
    for _ in range(4):
        manifest = generate(folder, orders, seed=seed)
        total = sum(manifest.rows.values())
        if abs(total - events) <= tolerance * events:
            break
        orders = max(1, round(orders * events / total))
    return manifest


def start_cli(settings: Settings, log_file: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LAKEHOUSE_NAMESPACE": settings.namespace}
    with log_file.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "lakehouse.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for(done: Any, deadline_s: float, what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + deadline_s
    while not done():
        if process.poll() is not None:
            raise RuntimeError(f"{what}: the process ended first (exit {process.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {deadline_s:.0f} s")
        time.sleep(0.25)


def stack_groups(settings: Settings, secrets: Secrets) -> dict[str, Any]:
    """Memory groups for the stack's services (each service's process tree)."""
    groups = {}
    for row in control.status(settings, secrets):
        if row.pid:
            groups[row.name] = lambda pid=row.pid: tree(pid)
    return groups


def stage_rates(settings: Settings, secrets: Secrets, since: datetime) -> dict[str, dict]:
    """Per query since ``since``: rows read, seconds in micro-batches and rows per second."""
    with connect(settings, secrets) as conn:
        rows = conn.execute(
            "SELECT query_name, count(*), sum(rows_in), sum(batch_duration_ms) / 1000.0"
            " FROM ops.stream_progress WHERE batch_started_at >= %s GROUP BY 1",
            (since,),
        ).fetchall()
    return {
        name: {
            "batches": batches,
            "rows": int(total),
            "seconds": float(seconds),
            "rows_per_s": int(total) / float(seconds) if seconds else None,
        }
        for name, batches, total, seconds in rows
    }


# the ingest query's line per micro-batch: records, seconds, and the seconds of each part
INGEST_BATCH = re.compile(rb"ingest batch \d+: (\d+) records to bronze; .*; ([\d.]+) s \(([^)]*)\)")


def ingest_parts(log_text: bytes) -> dict[str, float]:
    """The ingest query's batches in a log: their count, records, seconds, and seconds per
    part (read, typing, warehouse, writes), summed."""
    found: dict[str, float] = {"batches": 0, "records": 0, "seconds": 0.0}
    for records, seconds, parts in INGEST_BATCH.findall(log_text):
        found["batches"] += 1
        found["records"] += int(records)
        found["seconds"] += float(seconds)
        for part in parts.decode().split(", "):
            name, value = part.rsplit(" ", 1)
            found[name] = found.get(name, 0.0) + float(value)
    return found


def e2e_run(
    base: Settings, secrets: Secrets, data: Path, manifest: Manifest, name: str, trigger: str
) -> dict[str, Any]:
    """One end-to-end run in namespace ``name``; see the module's docstring."""
    settings = base.model_copy(update={"namespace": name})
    ensure_database(settings, secrets)
    ensure_topics(settings, all_topics())
    log_file = Path(tempfile.gettempdir()) / f"{name}-stream.log"
    app = producer = None
    try:
        prepare = start_cli(settings, log_file, "stream", "--trigger", "availableNow")
        if prepare.wait(timeout=900) != 0:
            raise RuntimeError(f"creating the tables failed; see {log_file}")
        offset = log_file.stat().st_size
        app = start_cli(settings, log_file, "stream", "--trigger", trigger)
        wanted = {q.encode() for q in QUERIES}

        def started() -> bool:
            return set(QUERY_STARTED.findall(log_file.read_bytes()[offset:])) >= wanted

        wait_for(started, 600, "the three queries starting", app)
        groups = {
            **stack_groups(settings, secrets),
            "streaming application (driver + JVM)": lambda: tree(app.pid),
            "producer": lambda: tree(producer.pid if producer else None),
        }
        memory = PeakMemory(groups)
        memory.start()
        since = datetime.now(UTC)
        began = time.monotonic()
        producer = start_cli(settings, log_file, "produce", "olist", "--data", str(data))
        want = (manifest.orders, manifest.items, manifest.rows["olist_order_payments_dataset.csv"])
        produce_s: float | None = None
        with connect(settings, secrets, role="reader") as conn:
            conn.autocommit = True

            def arrived() -> bool:
                nonlocal produce_s
                if produce_s is None and producer.poll() is not None:
                    produce_s = time.monotonic() - began
                    if producer.returncode != 0:
                        raise RuntimeError(f"the producer failed; see {log_file}")
                return conn.execute(COUNTS).fetchone() == want

            wait_for(arrived, 3600, "every order, item and payment in the warehouse", app)
        e2e_s = time.monotonic() - began
        peaks = memory.stop()
        app.terminate()
        app.wait(timeout=180)
        stages = stage_rates(settings, secrets, since)
        parts = ingest_parts(log_file.read_bytes()[offset:])
    finally:
        for process in (app, producer):
            if process is not None and process.poll() is None:
                process.kill()
        drop_database(settings, secrets)
        delete_topics(settings, all_topics())
    events = sum(manifest.rows.values())
    return {
        "namespace": name,
        "events": events,
        "orders": manifest.orders,
        "e2e_s": e2e_s,
        "events_per_s": events / e2e_s,
        "produce_s": produce_s,
        "produce_events_per_s": events / produce_s if produce_s else None,
        "stages": stages,
        "ingest_parts_s": parts,
        "peak_pss_mib": peaks,
        "log": str(log_file),
    }


def e2e_bench(
    base: Settings, secrets: Secrets, events: int, runs: int, seed: int, trigger: str
) -> dict[str, Any]:
    """``runs`` end-to-end runs on one synthetic set of about ``events`` records; medians."""
    stamp = int(time.time())
    with tempfile.TemporaryDirectory() as folder:
        manifest = sized_set(Path(folder), events, seed)
        results = []
        for run in range(runs):
            name = f"bench-e2e-{stamp}-{events // 1000}k-{run}"
            results.append(e2e_run(base, secrets, Path(folder), manifest, name, trigger))
            print(
                f"  {results[-1]['events']:,} events: {results[-1]['e2e_s']:.1f} s end to end "
                f"({results[-1]['events_per_s']:,.0f} events/s)",
                flush=True,
            )
    return {
        "events": results[0]["events"],
        "orders": manifest.orders,
        "runs": results,
        "median_e2e_s": statistics.median(r["e2e_s"] for r in results),
        "median_events_per_s": statistics.median(r["events_per_s"] for r in results),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=550_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trigger", default="processingTime=1 second")
    args = parser.parse_args(argv)
    settings = get_settings()
    result = e2e_bench(
        settings, load_secrets(settings), args.events, args.runs, args.seed, args.trigger
    )
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
