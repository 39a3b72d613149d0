"""How fast `lakehouse query` answers a point query on a silver table, as a new process and in
process, beside reading the same Parquet files with pyarrow alone (no Delta log) and beside
Spark SQL.

    .lakehouse/venv/bin/python -m bench.query_bench [--orders 100000] [--runs 10]
        [--cold-runs 7] [--namespace NS] [--skip-spark]

With the stack up. A silver.orders-shaped table of ``--orders`` rows (written by Spark in 4
files, as the streaming MERGEs leave it) goes to a namespace of its own (``--namespace``
reuses one an earlier run wrote, with the same ``--orders``); then, for one order_id:
  - the command: ``lakehouse query`` as a new process, wall clock (interpreter start, imports,
    settings and vault, the query, the output), median of ``--cold-runs``, with the default
    output and with ``--format csv`` (which loads pyarrow to write the CSV);
  - the floor of any command: ``lakehouse --version`` as a new process (interpreter and the
    CLI's imports, no query);
  - fast path in process: ``batch.query.run_query`` (delta-rs scan + DuckDB), median;
  - baseline: pyarrow's dataset over the table's Parquet files listed from S3, same filter;
  - Spark SQL (unless ``--skip-spark``): the session start, then the query in the warm
    session (median of 3).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import pyarrow.dataset as pads
import pyarrow.fs as pafs

from batch.query import run_query
from bench.baselines import s3_filesystem
from lakehouse.registry import table_path
from lakehouse.settings import Settings, get_settings, load_secrets


def median_s(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def interleaved(actions: list[Callable[[], object]], runs: int) -> list[float]:
    """The median seconds of each action, run in turn ``runs`` times (so that a change in the
    machine's load touches them all alike)."""
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(runs):
        for action, spent in zip(actions, times, strict=True):
            began = time.perf_counter()
            action()
            spent.append(time.perf_counter() - began)
    return [statistics.median(spent) for spent in times]


def order_id(number: int) -> str:
    """The order_id ``write_orders`` gives row ``number``: md5 of its decimal text."""
    return hashlib.md5(str(number).encode()).hexdigest()


def write_orders(settings: Settings, orders: int) -> float:
    """silver.orders-shaped rows into the namespace; returns the seconds the Spark session
    took to start."""
    from pyspark.sql import functions as F

    from lakehouse.spark import build_spark_session

    began = time.perf_counter()
    spark = build_spark_session("query-bench", settings)
    started = time.perf_counter() - began
    frame = spark.range(orders).select(
        F.md5(F.col("id").cast("string")).alias("order_id"),
        F.md5(F.concat(F.lit("c"), F.col("id").cast("string"))).alias("customer_id"),
        F.lit("delivered").alias("order_status"),
        (F.lit(1_500_000_000) + F.col("id") * 60)
        .cast("timestamp")
        .alias("order_purchase_timestamp"),
    )
    path = table_path(settings, "silver", "orders")
    frame.repartition(4).write.format("delta").save(path)
    return started


def pyarrow_baseline(settings: Settings, wanted: str) -> Callable[[], object]:
    s3 = s3_filesystem(settings, load_secrets(settings))
    folder = table_path(settings, "silver", "orders").removeprefix("s3a://")

    def read() -> object:
        files = [
            f.path
            for f in s3.get_file_info(pafs.FileSelector(folder))
            if f.path.endswith(".parquet")
        ]
        dataset = pads.dataset(files, format="parquet", filesystem=s3)
        return dataset.to_table(filter=pads.field("order_id") == wanted)

    return read


def cold_process(command: list[str], env: dict[str, str], expect: str) -> Callable[[], object]:
    """One run of ``command`` in a new process; fails unless its output has ``expect``."""

    def run() -> object:
        done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        if expect not in done.stdout:
            raise RuntimeError(f"{command[3:]} printed {done.stdout!r}, not {expect!r}")
        return done

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10, help="in-process runs")
    parser.add_argument("--cold-runs", type=int, default=7, help="new-process runs (>= 5)")
    parser.add_argument("--namespace", help="reuse the table an earlier run wrote there")
    parser.add_argument("--skip-spark", action="store_true", help="no Spark SQL lines")
    args = parser.parse_args(argv)
    namespace = args.namespace or f"bench-query-{int(time.time())}"
    settings = get_settings().model_copy(update={"namespace": namespace})
    secrets = load_secrets(settings)
    spark_start_s = None if args.namespace else write_orders(settings, args.orders)
    wanted = order_id(args.orders // 2)
    sql = f"SELECT order_id, order_status FROM silver.orders WHERE order_id = '{wanted}'"

    result, engine = run_query(sql, settings, secrets)
    assert engine == "duckdb" and result.num_rows == 1, (engine, result)
    env = {**os.environ, "LAKEHOUSE_NAMESPACE": namespace}
    command = [sys.executable, "-m", "lakehouse.cli", "query", sql]
    runs = max(args.cold_runs, 5)
    cold, csv, floor = interleaved(
        [
            cold_process(command, env, wanted),
            cold_process([*command[:4], "--format", "csv", sql], env, wanted),
            cold_process([sys.executable, "-m", "lakehouse.cli", "--version"], env, "lakehouse"),
        ],
        runs,
    )
    fast = median_s(lambda: run_query(sql, settings, secrets), args.runs)
    baseline = median_s(pyarrow_baseline(settings, wanted), args.runs)

    print(f"point query on silver.orders ({args.orders:,} rows, 4 files), {namespace}")
    print(f"{'case':66} {'seconds':>8}  x baseline")
    rows = [
        (f"`lakehouse query` as a new process, median of {runs}", cold),
        (f"  the same with --format csv, median of {runs}", csv),
        (f"  floor: `lakehouse --version` as a new process, median of {runs}", floor),
        (f"fast path in process (delta-rs scan + DuckDB), median of {args.runs}", fast),
        (f"baseline: pyarrow over the Parquet files, median of {args.runs}", baseline),
    ]
    if not args.skip_spark:
        from batch.query import run_spark

        warm = median_s(lambda: run_spark(sql, settings), 3)
        rows.append(("Spark SQL in a warm session, median of 3", warm))
        if spark_start_s is not None:
            rows.append(("Spark session start (once)", spark_start_s))
    for name, seconds in rows:
        print(f"{name:66} {seconds:8.3f}  {seconds / baseline:9.1f}")


if __name__ == "__main__":
    main()
