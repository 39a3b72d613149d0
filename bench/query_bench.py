"""How fast `lakehouse query` answers a point query on a silver table, beside reading the same
Parquet files with pyarrow alone (no Delta log) and beside Spark SQL.

    .lakehouse/venv/bin/python bench/query_bench.py [--orders 100000] [--runs 10]

With the stack up. A silver.orders-shaped table of ``--orders`` rows (written by Spark in a few
files, as the streaming MERGEs leave it) goes to a namespace of its own; then, for one
order_id:
  - fast path in process: ``batch.query.run_query`` (delta-rs log read + DuckDB), median;
  - the command: ``lakehouse query`` as a new process (Python start and imports included);
  - baseline: pyarrow's dataset over the table's Parquet files listed from S3, same filter;
  - Spark SQL: the session start, then the query in the warm session (median).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import pyarrow.dataset as pads
import pyarrow.fs as pafs
from pyspark.sql import functions as F

from batch.query import run_query, run_spark
from lakehouse.registry import table_path
from lakehouse.settings import Settings, get_settings, load_secrets
from lakehouse.spark import build_spark_session


def median_s(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def write_orders(settings: Settings, orders: int) -> tuple[str, float]:
    """silver.orders-shaped rows into the namespace; returns a present order_id and the
    seconds the Spark session took to start."""
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
    return frame.where(F.col("id") == orders // 2).first().order_id, started


def pyarrow_baseline(settings: Settings, order_id: str) -> Callable[[], object]:
    secrets = load_secrets(settings)
    s3 = pafs.S3FileSystem(
        access_key=secrets.require("s3_access_key"),
        secret_key=secrets.require("s3_secret_key"),
        endpoint_override=settings.s3.url,
        region=settings.s3.region,
        scheme="https" if settings.s3.secure else "http",
    )
    folder = table_path(settings, "silver", "orders").removeprefix("s3a://")

    def read() -> object:
        files = [
            f.path
            for f in s3.get_file_info(pafs.FileSelector(folder))
            if f.path.endswith(".parquet")
        ]
        dataset = pads.dataset(files, format="parquet", filesystem=s3)
        return dataset.to_table(filter=pads.field("order_id") == order_id)

    return read


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    settings = get_settings().model_copy(update={"namespace": f"bench-query-{int(time.time())}"})
    secrets = load_secrets(settings)
    order_id, spark_start_s = write_orders(settings, args.orders)
    sql = f"SELECT order_id, order_status FROM silver.orders WHERE order_id = '{order_id}'"

    result, engine = run_query(sql, settings, secrets)
    assert engine == "duckdb" and result.num_rows == 1, (engine, result)
    fast = median_s(lambda: run_query(sql, settings, secrets), args.runs)
    env = {**os.environ, "LAKEHOUSE_NAMESPACE": settings.namespace}
    command = [sys.executable, "-m", "lakehouse.cli", "query", "--format", "csv", sql]
    cli = median_s(lambda: subprocess.run(command, env=env, check=True, capture_output=True), 3)
    baseline = median_s(pyarrow_baseline(settings, order_id), args.runs)
    spark_query = median_s(lambda: run_spark(sql, settings), 3)

    print(f"point query on silver.orders ({args.orders:,} rows, 4 files), {settings.namespace}")
    print(f"{'case':52} {'seconds':>8}  x baseline")
    rows = [
        ("fast path in process (delta-rs + DuckDB), median", fast),
        ("`lakehouse query` as a new process, median of 3", cli),
        ("baseline: pyarrow over the Parquet files, median", baseline),
        ("Spark SQL in a warm session, median of 3", spark_query),
        ("Spark session start (once)", spark_start_s),
    ]
    for name, seconds in rows:
        print(f"{name:52} {seconds:8.3f}  {seconds / baseline:9.1f}")


if __name__ == "__main__":
    main()
