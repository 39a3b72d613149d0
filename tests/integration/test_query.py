"""``lakehouse query`` over real Delta tables on the S3 server: the fast path (deltalake +
DuckDB, no JVM) and Spark SQL give the same answers; time travel; history; clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import duckdb
import pytest

from batch.query import QueryError, TableRef, history, run_query, spark_sql, table_refs
from batch.scan_plan import Scan, plan_scans
from lakehouse.registry import table_path
from lakehouse.settings import Secrets, Settings

ROWS = [("o1", "SP", 10.5, date(2018, 1, 5)), ("o2", "RJ", 7.25, date(2018, 1, 6))]
SCHEMA = "order_id STRING, state STRING, gmv DOUBLE, day DATE"


@pytest.fixture
def lake(spark, ns_settings: Settings) -> Settings:
    """silver.orders in two versions: two rows, then a third."""
    path = table_path(ns_settings, "silver", "orders")
    spark.createDataFrame(ROWS, SCHEMA).write.format("delta").save(path)
    more = spark.createDataFrame([("o3", "SP", 1.0, date(2018, 2, 1))], SCHEMA)
    more.write.format("delta").mode("append").save(path)
    return ns_settings


def test_fast_path_and_spark_agree_with_time_travel(lake: Settings, secrets: Secrets) -> None:
    point = "SELECT order_id, gmv FROM silver.orders WHERE order_id = 'o2'"
    result, engine = run_query(point, lake, secrets)
    assert (engine, result.to_pylist()) == ("duckdb", [{"order_id": "o2", "gmv": 7.25}])

    per_state = "SELECT state, sum(gmv) AS gmv FROM silver.orders GROUP BY state ORDER BY state"
    now, _ = run_query(per_state, lake, secrets)
    then, _ = run_query(per_state, lake, secrets, as_of=0)
    assert now.to_pylist() == [{"state": "RJ", "gmv": 7.25}, {"state": "SP", "gmv": 11.5}]
    assert then.to_pylist() == [{"state": "RJ", "gmv": 7.25}, {"state": "SP", "gmv": 10.5}]
    by_spark, engine = run_query(per_state, lake, secrets, engine="spark", as_of=0)
    assert (engine, by_spark.to_pylist()) == ("spark", then.to_pylist())

    # a point filter pushed into the scan; a self-join, whose table is read once and copied
    for sql in (
        "SELECT order_id, state FROM silver.orders WHERE state = 'SP' AND order_id <> 'o9' "
        "ORDER BY order_id",
        "SELECT a.order_id, b.gmv FROM silver.orders a JOIN silver.orders b USING (order_id) "
        "WHERE a.state IN ('SP') ORDER BY a.order_id",
    ):
        fast, engine = run_query(sql, lake, secrets)
        by_spark, _ = run_query(sql, lake, secrets, engine="spark")
        assert engine == "duckdb" and fast.num_rows == 2
        assert fast.to_pylist() == by_spark.to_pylist(), sql

    commits = history(lake, secrets, "silver.orders").to_pylist()
    assert [(c["version"], c["operation"]) for c in commits] == [(1, "WRITE"), (0, "WRITE")]


def test_clear_errors(lake: Settings, secrets: Secrets) -> None:
    with pytest.raises(QueryError, match=r"no table silver\.nope"):
        run_query("SELECT * FROM silver.nope", lake, secrets)
    with pytest.raises(QueryError, match="names no lake table"):
        run_query("SELECT 1", lake, secrets)
    with pytest.raises(QueryError, match="DuckDB"):
        run_query("SELECT nope FROM silver.orders", lake, secrets)


def test_the_command_answers_without_a_jvm(lake: Settings) -> None:
    # no Java to be found: the fast path must not need one
    env = {**os.environ, "LAKEHOUSE_NAMESPACE": lake.namespace, "JAVA_HOME": "/nonexistent"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lakehouse.cli", "query", "--format", "json",
         "SELECT order_id, day FROM silver.orders WHERE gmv > 5 ORDER BY order_id"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"order_id": "o1", "day": "2018-01-05"},
        {"order_id": "o2", "day": "2018-01-06"},
    ]
    # nor pyarrow, nor the pandas its dataset module loads: a new process answers fast
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert not imported & {"pandas", "pyarrow", "pyarrow.dataset"}


def test_scans_read_what_the_query_needs() -> None:
    orders, items = TableRef("silver", "orders"), TableRef("silver", "order_items")
    types = {
        orders: {
            "order_id": "string",
            "state": "string",
            "n": "long",
            "gmv": "double",
            "day": "date",
        },
        items: {"order_id": "string", "price": "double"},
    }
    con = duckdb.connect()

    def plan(sql: str) -> dict[TableRef, Scan]:
        return plan_scans(con, sql, {ref: types[ref] for ref in table_refs(sql)})

    point = plan(
        "SELECT state FROM silver.orders o WHERE o.order_id = 'x''y' AND n > -2 AND gmv > 5"
    )
    assert point == {
        orders: Scan(
            ["order_id", "state", "n", "gmv"], "\"order_id\" = 'x''y' AND \"n\" > -2", True
        )
    }
    # a type DataFusion would read otherwise, an OR: left to DuckDB
    assert (
        plan("SELECT 1 FROM silver.orders WHERE n = '1' OR state = 'x'")[orders].predicate is None
    )
    # every column: a star, a whole row, NATURAL JOIN, renamed columns, DESCRIBE
    for sql in (
        "SELECT * FROM silver.orders WHERE state = 'SP'",
        "SELECT o FROM silver.orders o",
        "SELECT order_id FROM silver.orders NATURAL JOIN silver.order_items",
        "SELECT a FROM silver.orders AS t(a, b)",
        "DESCRIBE silver.orders",
    ):
        assert plan(sql)[orders].columns is None, sql
    # read twice (a self-join, a CTE used twice): copied, not streamed, and not filtered
    for sql in (
        "SELECT a.n FROM silver.orders a JOIN silver.orders b USING (order_id) WHERE a.n = 1",
        "WITH x AS (SELECT n FROM silver.orders WHERE n = 1) SELECT * FROM x, x AS y",
    ):
        assert (plan(sql)[orders].stream, plan(sql)[orders].predicate) == (False, None), sql
    joined = plan("SELECT sum(price) FROM silver.orders JOIN silver.order_items USING (order_id)")
    assert joined == {orders: Scan(["order_id"], None, True), items: Scan(None, None, True)}


def test_spark_sql_names_the_tables_by_path(ns_settings: Settings) -> None:
    root = ns_settings.lake_root
    assert spark_sql("SELECT * FROM gold.daily_sales d JOIN silver.orders o", ns_settings, 3) == (
        f"SELECT * FROM delta.`{root}/gold/daily_sales` VERSION AS OF 3 d "
        f"JOIN delta.`{root}/silver/orders` VERSION AS OF 3 o"
    )


def test_bronze_topic_names_select_their_rows_of_bronze_events(
    spark, ns_settings: Settings, secrets: Secrets
) -> None:
    """bronze is one table for every topic; ``bronze.<topic>`` is that topic's rows of it, in
    both engines, and an unknown topic is a clear error."""
    from datetime import datetime

    from lakehouse.registry import kafka_topic
    from streaming.bronze_job import BRONZE_SCHEMA, ensure_bronze_table

    ensure_bronze_table(spark, ns_settings)
    at = datetime(2026, 1, 1)
    rows = [
        (f"k{i}", f"v{i}", kafka_topic(ns_settings, topic), 0, i, at, at, at.date())
        for i, topic in enumerate(["olist.orders", "olist.orders", "bcb.sgs", "olist.dlq"])
    ]
    spark.createDataFrame(rows, BRONZE_SCHEMA).write.format("delta").mode("append").save(
        table_path(ns_settings, "bronze", "events")
    )
    for sql, expected in (
        ("SELECT value FROM bronze.olist_orders ORDER BY value", ["v0", "v1"]),
        ("SELECT value FROM bronze.olist_orders WHERE key = 'k1'", ["v1"]),
        ("SELECT value FROM bronze.olist_dlq", ["v3"]),
        ("SELECT value FROM bronze.events ORDER BY value", ["v0", "v1", "v2", "v3"]),
    ):
        for engine in ("duckdb", "spark"):
            result, _ = run_query(sql, ns_settings, secrets, engine=engine)
            assert [r["value"] for r in result.to_pylist()] == expected, (engine, sql)
    with pytest.raises(QueryError, match=r"no bronze\.nope"):
        run_query("SELECT * FROM bronze.nope", ns_settings, secrets)
