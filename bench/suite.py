"""Every benchmark in one command (``bench/run``): end to end at the full Olist scale and at
1M events, each stage's throughput beside its raw baseline, freshness at a steady rate, and the
peak memory of each process, written to ``bench/RESULTS.md`` and ``bench/results.json``.

    bench/run [--scales 550000,1000000] [--runs 3] [--rate 2000] [--duration 60] [--quick]

Needs nothing running: ``bench/run`` installs what is missing and starts the stack. Every
figure is the median of ``--runs`` runs; baselines run in the same invocation, on the same
machine and services, after the end-to-end runs (so they do not compete for the cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench import baselines, e2e_bench, warehouse_bench
from bench.results_md import render
from lakehouse.kafka import delete_topics, ensure_topics
from lakehouse.postgres import connect
from lakehouse.registry import all_topics, table_path
from lakehouse.settings import Secrets, Settings, get_settings, load_secrets

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TARGET_E2E_S, AIM_E2E_S = 120.0, 60.0  # the full Olist scale end to end on 2 cores
TARGET_P95_S, AIM_P95_S = 15.0, 5.0  # freshness at a steady 2k events/s
FRESHNESS_EVENTS_PER_ORDER = 5.2  # customer, order, items, payments, reviews


def median_of(runs: int, measure: Any) -> tuple[float, list[float]]:
    values = [measure() for _ in range(runs)]
    return statistics.median(values), values


def stage_baselines(
    base: Settings, secrets: Secrets, events: int, runs: int, seed: int
) -> dict[str, Any]:
    """The raw baselines over a synthetic set of about ``events`` records."""
    from lakehouse.spark import build_spark_session

    settings = base.model_copy(update={"namespace": f"bench-base-{int(time.time())}"})
    ensure_topics(settings, all_topics())
    with tempfile.TemporaryDirectory() as folder:
        e2e_bench.sized_set(Path(folder), events, seed)
        rows = baselines.serialised_rows(Path(folder))
    n = len(rows)
    out: dict[str, Any] = {"records": n}
    kafka_s, kafka_runs = median_of(runs, lambda: baselines.kafka_bare_loop(settings, rows))
    out["kafka_bare_loop"] = {"median_s": kafka_s, "runs_s": kafka_runs, "per_s": n / kafka_s}
    print(f"  Kafka bare loop: {n / kafka_s:,.0f} records/s", flush=True)

    filesystem = baselines.s3_filesystem(settings, secrets)
    bucket_key = f"{settings.s3.bucket}/{settings.namespace}/parquet"
    counter = iter(range(runs))
    parquet_s, parquet_runs = median_of(
        runs,
        lambda: baselines.parquet_to_s3(
            filesystem, f"{bucket_key}/part-{next(counter)}.parquet", rows
        ),
    )
    out["parquet_to_s3"] = {"median_s": parquet_s, "runs_s": parquet_runs, "per_s": n / parquet_s}
    print(f"  pyarrow Parquet -> S3: {n / parquet_s:,.0f} records/s", flush=True)

    spark = build_spark_session("lakehouse-bench-baselines", settings)
    try:
        path = table_path(settings, "bronze", "_bench_rate")
        baselines.spark_rate_to_delta(spark, f"{path}_warmup", 1000)  # the JVM's first write
        counter = iter(range(runs))
        rate_s, rate_runs = median_of(
            runs, lambda: baselines.spark_rate_to_delta(spark, f"{path}_{next(counter)}", n)
        )
        # every record the bare loops sent, read back from Kafka into one Delta table
        kafka_delta_s, kafka_delta_rows = baselines.spark_kafka_to_delta(
            spark, settings, f"{path}_kafka", settings.spark.max_offsets_per_trigger
        )
    finally:
        spark.stop()
    out["spark_rate_to_delta"] = {"median_s": rate_s, "runs_s": rate_runs, "per_s": n / rate_s}
    print(f"  Spark rate -> Delta: {n / rate_s:,.0f} rows/s", flush=True)
    out["spark_kafka_to_delta"] = {"median_s": kafka_delta_s, "records": kafka_delta_rows,
                                   "per_s": kafka_delta_rows / kafka_delta_s}  # fmt: skip
    print(f"  Spark Kafka -> Delta: {kafka_delta_rows / kafka_delta_s:,.0f} records/s", flush=True)
    delete_topics(settings, all_topics())
    return out


def freshness(base: Settings, secrets: Secrets, args: argparse.Namespace) -> dict[str, Any]:
    """Freshness at a steady ``--rate`` events/s (``bench.warehouse_bench``'s freshness run)."""
    options = SimpleNamespace(
        warmup=20,
        rate=args.rate / FRESHNESS_EVENTS_PER_ORDER,
        duration=args.duration,
        seed=args.seed,
        trigger=args.trigger,
        startup_timeout=900.0,
        drain_timeout=900.0,
    )
    settings = base.model_copy(update={"namespace": f"bench-fresh-{int(time.time())}"})
    return warehouse_bench.freshness_bench(settings, secrets, options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="550000,1000000", help="events, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=2000.0, help="freshness: events/s")
    parser.add_argument("--duration", type=float, default=60.0, help="freshness: seconds")
    parser.add_argument("--sink-rows", type=int, default=100_000)
    parser.add_argument("--trigger", default="processingTime=1 second")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20k events, 1 run, 20 s freshness")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for RESULTS.md and JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.scales, args.runs, args.duration, args.sink_rows = "20000", 1, 20.0, 20_000
    scales = [int(s) for s in args.scales.split(",")]
    logging.basicConfig(level=logging.WARNING)
    settings = get_settings()
    secrets = load_secrets(settings)
    info = warehouse_bench.machine()
    with connect(settings, secrets) as conn:
        info["postgres"] = conn.execute("SHOW server_version").fetchone()[0]
    figures: dict[str, Any] = {"machine": info, "args": {k: str(v) for k, v in vars(args).items()}}
    began = time.monotonic()
    figures["e2e"] = {}
    for events in scales:
        print(f"end to end, about {events:,} events, {args.runs} run(s)", flush=True)
        figures["e2e"][str(events)] = e2e_bench.e2e_bench(
            settings, secrets, events, args.runs, args.seed, args.trigger
        )
    print("raw baselines", flush=True)
    figures["baselines"] = stage_baselines(settings, secrets, scales[0], args.runs, args.seed)
    print("warehouse sink beside COPY", flush=True)
    ns = settings.model_copy(update={"namespace": f"bench-wh-{int(time.time())}"})
    figures["sink"] = warehouse_bench.sink_bench(ns, secrets, args.sink_rows, args.runs, args.seed)
    print(f"freshness at {args.rate:,.0f} events/s for {args.duration:.0f} s", flush=True)
    try:
        figures["freshness"] = freshness(settings, secrets, args)
    except (RuntimeError, AssertionError) as exc:
        figures["freshness"] = {"error": str(exc)}
    figures["targets"] = {
        "e2e_s": TARGET_E2E_S,
        "e2e_aim_s": AIM_E2E_S,
        "p95_s": TARGET_P95_S,
        "p95_aim_s": AIM_P95_S,
    }
    figures["bench_s"] = time.monotonic() - began
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
    (args.out / "RESULTS.md").write_text(render(figures))
    print(f"wrote {args.out / 'RESULTS.md'} and {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
