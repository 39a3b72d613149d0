"""Streaming throughput per query: ingest (Kafka -> bronze -> silver, one chained micro-batch),
then gold (silver -> gold), each drained with ``availableNow`` in turn, beside two baselines in
the same run and Spark session: Spark reading the same Kafka records into one Delta table and
nothing else (the floor under ingest), and a bare ``rate-micro-batch`` -> Delta append of as
many rows.

    .lakehouse/venv/bin/python -m bench.streaming_bench [--events 200000] [--seed 7] [--jobs]

Needs the stack up (`lakehouse stack up`). Works in a namespace of its own (``bench-<time>``):
a synthetic Olist set of about ``--events`` records is replayed into its topics first. Prints
events/s per query; a query's events are the rows it read (ingest: Kafka records; gold: the
silver changes). With ``--jobs`` it also prints, per layer, each
micro-batch's phases (Spark's progress report) and the Spark jobs that took at least
``--min-job-s`` (from the Spark UI's REST API, which ``--jobs`` turns on): where a batch's
time goes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from bench.baselines import spark_kafka_to_delta, spark_rate_to_delta
from lakehouse.postgres import ensure_database
from lakehouse.registry import table_path
from lakehouse.settings import get_settings, load_secrets
from lakehouse.spark import build_spark_session
from producers.olist import OlistReplay
from producers.synthetic import generate
from security.runtime import masking_key
from streaming.bronze_job import ensure_bronze_table
from streaming.gold_job import start_gold
from streaming.ingest_job import start_ingest
from streaming.silver_job import ensure_silver_tables

EVENTS_PER_ORDER = 6.8  # orders, items, payments, reviews, customers, products, sellers, geo...


def timed_layer(start: Callable[[], StreamingQuery]) -> tuple[float, int, StreamingQuery]:
    """Seconds to drain one layer's query, the rows it read, and the query."""
    began = time.perf_counter()
    query = start()
    query.awaitTermination()
    seconds = time.perf_counter() - began
    return seconds, sum(p["numInputRows"] for p in query.recentProgress), query


def _ui_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fGMT").replace(tzinfo=timezone.utc)


def spark_jobs(spark: SparkSession) -> list[dict]:
    """Every finished Spark job of the session (the UI's REST API), oldest first."""
    url = f"{spark.sparkContext.uiWebUrl}/api/v1/applications/{spark.sparkContext.applicationId}"
    with urllib.request.urlopen(f"{url}/jobs", timeout=30) as answer:
        jobs = json.load(answer)
    return sorted((j for j in jobs if "completionTime" in j), key=lambda j: j["jobId"])


def print_breakdown(query: StreamingQuery, jobs: list[dict], min_job_s: float) -> None:
    """Each batch's phases, then the query's Spark jobs of at least ``min_job_s`` seconds."""
    for progress in query.recentProgress:
        phases = ", ".join(f"{k} {v / 1000:.1f}" for k, v in progress["durationMs"].items())
        print(f"  batch {progress['batchId']}: {progress['numInputRows']:,} rows; s: {phases}")
    mine = [j for j in jobs if str(query.id) in (j.get("description") or "")]
    if not mine:
        return
    first = _ui_time(mine[0]["submissionTime"])
    for job in mine:
        seconds = (
            _ui_time(job["completionTime"]) - _ui_time(job["submissionTime"])
        ).total_seconds()
        if seconds >= min_job_s:
            offset = (_ui_time(job["submissionTime"]) - first).total_seconds()
            tasks = job["numTasks"]
            print(f"  job {job['jobId']:>5} at +{offset:6.1f} s: {seconds:6.2f} s, {tasks} tasks")
    print(f"  {len(mine)} Spark jobs in all")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--jobs", action="store_true", help="print where each layer's time goes")
    parser.add_argument("--min-job-s", type=float, default=1.0)
    args = parser.parse_args(argv)
    settings = get_settings()
    spark_settings = settings.spark.model_copy(update={"ui_enabled": args.jobs})
    settings = settings.model_copy(
        update={"namespace": f"bench-{int(time.time())}", "spark": spark_settings}
    )

    with tempfile.TemporaryDirectory() as folder:
        manifest = generate(Path(folder), max(1, round(args.events / EVENTS_PER_ORDER)), args.seed)
        began = time.perf_counter()
        report = OlistReplay(settings, Path(folder), threading.Event()).run("fast")
        produce_s = time.perf_counter() - began
    events = report.total_acked
    print(f"namespace {settings.namespace}: {manifest.summary()}")
    print(f"produced {events:,} events in {produce_s:.1f} s ({events / produce_s:,.0f}/s)")

    secrets = load_secrets(settings)
    ensure_database(settings, secrets)  # the ingest query loads the namespace's warehouse
    spark = build_spark_session("lakehouse-bench", settings)
    key = masking_key(settings)
    ensure_bronze_table(spark, settings)
    ensure_silver_tables(spark, settings, key)
    drain = "availableNow"
    results = {
        "ingest (Kafka -> bronze -> silver -> warehouse)": timed_layer(
            lambda: start_ingest(spark, settings, secrets, key, trigger=drain)
        ),
        "gold (recompute touched days, MERGE)": timed_layer(
            lambda: start_gold(spark, settings, trigger=drain)
        ),
    }
    if args.jobs:
        jobs = spark_jobs(spark)
        for layer, (_, _, query) in results.items():
            print(f"\n{layer}")
            print_breakdown(query, jobs, args.min_job_s)
    rate_rows = results["ingest (Kafka -> bronze -> silver -> warehouse)"][1]
    floor_s, floor_rows = spark_kafka_to_delta(
        spark,
        settings,
        table_path(settings, "bronze", "_bench_kafka"),
        settings.spark.max_offsets_per_trigger,
    )
    rate_s = spark_rate_to_delta(spark, table_path(settings, "bronze", "_bench_rate"), rate_rows)
    rate = rate_rows / rate_s

    print(f"\n{'layer':42} {'events':>9} {'seconds':>8} {'events/s':>9} {'x baseline':>10}")
    for layer, (seconds, rows, _) in results.items():
        per_s = rows / seconds
        print(f"{layer:42} {rows:9,} {seconds:8.1f} {per_s:9,.0f} {per_s / rate:10.2f}")
    name = "baseline: Kafka -> one Delta table"
    floor = floor_rows / floor_s
    print(f"{name:42} {floor_rows:9,} {floor_s:8.1f} {floor:9,.0f} {floor / rate:10.2f}")
    name = "baseline: rate-micro-batch -> Delta append"
    print(f"{name:42} {rate_rows:9,} {rate_s:8.1f} {rate:9,.0f} {1:10.2f}")
    spark.stop()


if __name__ == "__main__":
    main()
