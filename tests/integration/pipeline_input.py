"""Input for the tests that run the whole streaming application in a namespace of their own:
a synthetic Olist set (sent twice, so every record is duplicated), hand-made bad envelopes,
IPCA/Selic answers and weather answers for the capitals, and the checks shared by those tests.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from chispa import assert_approx_df_equality
from confluent_kafka import Consumer, Producer, TopicPartition
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.kafka import producer_config
from lakehouse.postgres import connect
from lakehouse.registry import (
    BCB_TOPIC,
    OLIST_ENTITIES,
    WEATHER_TOPIC,
    kafka_topic,
    pipeline_topics,
    table_path,
)
from lakehouse.settings import Secrets, Settings, load_secrets
from lakehouse.storage import s3_client
from producers.bcb import parse_body
from producers.daemon import state_dir
from producers.envelope import envelope
from producers.olist import OlistReplay
from producers.sink import KafkaSink
from producers.synthetic import CUSTOMERS, Manifest, generate
from producers.weather import load_capitals, parse_weather
from streaming.bronze_job import read_bronze
from streaming.contracts import CONTRACTS
from streaming.gold_job import DAILY, MONTHLY, WEATHER, recompute
from streaming.silver_job import ENTITY_TOPICS

ORDER_ITEM = {
    "order_id": "o-bad", "order_item_id": "1", "product_id": "p", "seller_id": "s",
    "shipping_limit_date": "2018-01-01 00:00:00", "price": "-5.00", "freight_value": "1.00",
}  # fmt: skip
# topic -> (raw value, the reason silver.quarantine must give)
BAD_ENVELOPES = {
    "olist.order_items": [
        (json.dumps({"event_id": "neg", "source": "olist", "entity": "order_items",
                     "schema_version": 1, "produced_at": 1, "payload": ORDER_ITEM}),
         "price below 0"),
        ("{broken", "value is not valid JSON"),
    ],
    "olist.order_reviews": [
        (json.dumps({"event_id": "score", "source": "olist", "entity": "order_reviews",
                     "schema_version": 1, "produced_at": 1,
                     "payload": {"review_id": "r", "order_id": "o", "review_score": "7"}}),
         "review_score above 5"),
    ],
}  # fmt: skip


@dataclass
class Produced:
    """What a test sent: the generator's manifest and the records acknowledged per topic."""

    manifest: Manifest
    acked: dict[str, int]
    data_dir: Path


def _months(first: date, last: date) -> list[date]:
    months, day = [], first.replace(day=1)
    while day <= last:
        months.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def _macro_and_weather(sink: KafkaSink, manifest: Manifest) -> None:
    first = datetime.fromisoformat(manifest.first_purchase).date()
    last = datetime.fromisoformat(manifest.last_purchase).date()
    months = _months(first, last)
    for code, rate in ((433, "0.40"), (432, "13.75")):
        answer = [{"data": m.strftime("%d/%m/%Y"), "valor": rate} for m in months]
        payloads, rejects = parse_body(code, json.dumps(answer))
        assert not rejects
        for payload in payloads:
            sink.send(BCB_TOPIC.name, *envelope("bcb", "sgs", BCB_TOPIC.natural_key, payload))
    for number, capital in enumerate(load_capitals()):
        for offset in range(0, (last - first).days + 1, 30):
            moment = datetime.combine(first + timedelta(days=offset), datetime.min.time())
            body = {
                "coord": {"lat": float(capital.lat), "lon": float(capital.lon)},
                "weather": [{"main": "Clear"}], "main": {"temp": 20 + number % 10, "humidity": 60},
                "dt": int(moment.timestamp()) + 43_200, "id": 3_400_000 + number,
            }  # fmt: skip
            payload = parse_weather(json.dumps(body), capital)
            assert isinstance(payload, dict)
            key, value = envelope("weather", "current", WEATHER_TOPIC.natural_key, payload)
            sink.send(WEATHER_TOPIC.name, key, value)


def produce(settings: Settings, data_dir: Path, orders: int, seed: int) -> Produced:
    """Generate a synthetic set and send everything a pipeline test needs, duplicates included."""
    manifest = generate(data_dir, orders, seed=seed, bad_rows=6)
    acked: dict[str, int] = {}
    for _ in range(2):  # the second replay (ledger removed) duplicates every record
        (state_dir(settings) / "olist-replay-ledger.json").unlink(missing_ok=True)
        report = OlistReplay(settings, data_dir, threading.Event()).run("fast")
        for topic, count in report.acked.items():
            acked[topic] = acked.get(topic, 0) + count
    for topic, count in produce_side_input(settings, manifest).items():
        acked[topic] = acked.get(topic, 0) + count
    return Produced(manifest, acked, data_dir)


def produce_side_input(settings: Settings, manifest: Manifest) -> dict[str, int]:
    """Send the bad envelopes and the IPCA/Selic and weather records for the manifest's dates;
    returns the records acknowledged per topic."""
    sink = KafkaSink(settings, client_id="pipeline-test")
    for topic, values in BAD_ENVELOPES.items():
        for value, _reason in values:
            sink.send(topic, "bad", value.encode())
    _macro_and_weather(sink, manifest)
    report = sink.close()
    assert not report.failed, report.summary()
    return dict(report.acked)


def read(spark: SparkSession, settings: Settings, layer: str, name: str) -> DataFrame:
    return spark.read.format("delta").load(table_path(settings, layer, name))


def assert_bronze_equals_produced(
    spark: SparkSession, settings: Settings, produced: Produced
) -> None:
    for topic, count in produced.acked.items():
        assert read_bronze(spark, settings, topic).count() == count, topic


def kafka_record_counts(settings: Settings) -> dict[str, int]:
    """Records per pipeline topic (registry name) in Kafka: the high watermarks summed over
    partitions (nothing expires in a test, and without transactions offsets are dense)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": "counts"})
    try:
        listed = consumer.list_topics(timeout=30).topics
        counts = {}
        for topic in pipeline_topics():
            name = kafka_topic(settings, topic)
            counts[topic] = sum(
                consumer.get_watermark_offsets(TopicPartition(name, p), timeout=30)[1]
                for p in listed[name].partitions
            )
        return counts
    finally:
        consumer.close()


def lake_rows(sql: str, settings: Settings, secrets: Secrets) -> list[dict[str, Any]]:
    """``sql`` over the lake's tables by name (``bronze.olist_orders``), run by DuckDB over
    delta-rs (no JVM), as rows."""
    import pyarrow as pa

    from batch.query import run_duckdb

    return pa.table(run_duckdb(sql, settings, secrets)).to_pylist()


def assert_bronze_equals_kafka(settings: Settings, secrets: Secrets) -> None:
    """Every record of every pipeline topic is in bronze exactly once (by its coordinates)."""
    for topic, count in kafka_record_counts(settings).items():
        (found,) = lake_rows(
            "SELECT count(*) AS n, "
            "count(DISTINCT partition::VARCHAR || ':' || \"offset\"::VARCHAR) AS coordinates "
            f"FROM bronze.{topic.replace('.', '_')}",
            settings,
            secrets,
        )
        assert (found["n"], found["coordinates"]) == (count, count), (topic, found, count)


def assert_bronze_holds_every_row(settings: Settings, secrets: Secrets, manifest: Manifest) -> None:
    """Each Olist topic's bronze table holds every good row of the generated files (distinct
    event ids: a restarted producer may have sent some rows twice), the bad envelopes aside."""
    for entity in OLIST_ENTITIES:
        bad = [value for value, _ in BAD_ENVELOPES.get(entity.topic.name, [])] or [""]
        listed = ", ".join("'" + value.replace("'", "''") + "'" for value in bad)
        (found,) = lake_rows(
            "SELECT count(DISTINCT json_extract_string(value, '$.event_id')) AS ids "
            f"FROM bronze.{entity.topic.name.replace('.', '_')} WHERE value NOT IN ({listed})",
            settings,
            secrets,
        )
        assert found["ids"] == manifest.rows[entity.file_name], (entity.entity, found)


def gold_totals(settings: Settings, secrets: Secrets) -> tuple[Decimal, ...] | None:
    """GMV, items and freight over gold.daily_sales, then GMV over gold.sales_weather and
    gold.monthly_gmv (None before the tables exist): each equals the set's when gold caught up."""
    from batch.query import QueryError

    try:
        (row,) = lake_rows(
            "SELECT (SELECT sum(gmv) FROM gold.daily_sales) AS gmv, "
            "(SELECT sum(items) FROM gold.daily_sales) AS items, "
            "(SELECT sum(freight) FROM gold.daily_sales) AS freight, "
            "(SELECT sum(gmv) FROM gold.sales_weather) AS weather_gmv, "
            "(SELECT sum(gmv_nominal) FROM gold.monthly_gmv) AS monthly_gmv",
            settings,
            secrets,
        )
    except QueryError:
        return None
    return tuple(Decimal(v) if v is not None else Decimal(-1) for v in row.values())


def warehouse_batches_since(settings: Settings, secrets: Secrets, since: datetime) -> int | None:
    """Warehouse batches committed after ``since`` (None while PostgreSQL cannot be reached)."""
    try:
        with connect(settings, secrets) as conn:
            row = conn.execute(
                "SELECT count(*) FROM etl.batch_log WHERE committed_at > %s", (since,)
            ).fetchone()
    except psycopg.OperationalError:
        return None
    return int(row[0]) if row else 0


def assert_silver_and_quarantine_cover_bronze(spark: SparkSession, settings: Settings) -> None:
    """Every bronze row is in silver (by event id) or in quarantine (by coordinates), and silver
    holds each natural key and event id once."""
    quarantine = read(spark, settings, "silver", "quarantine")
    for entity, contract in CONTRACTS.items():
        bronze = read_bronze(spark, settings, ENTITY_TOPICS[entity]).withColumn(
            "event_id", F.get_json_object("value", "$.event_id")
        )
        silver = read(spark, settings, "silver", entity)
        lost = bronze.join(silver, "event_id", "left_anti").join(
            quarantine, ["topic", "partition", "offset"], "left_anti"
        )
        assert lost.count() == 0, f"{entity}: bronze rows neither in silver nor quarantined"
        for key in (list(contract.natural_key), ["event_id"]):
            assert silver.groupBy(*key).count().where("count > 1").count() == 0, (entity, key)


def assert_quarantine_reasons(spark: SparkSession, settings: Settings) -> None:
    quarantine = read(spark, settings, "silver", "quarantine")
    for topic, values in BAD_ENVELOPES.items():
        for value, reason in values:
            rows = quarantine.where(
                (F.col("raw_value") == value) & (F.col("topic").endswith(topic))
            )
            assert [r.reason for r in rows.collect()] == [reason]


def assert_no_clear_personal_data(spark: SparkSession, settings: Settings, data_dir: Path) -> None:
    with (data_dir / CUSTOMERS).open(newline="") as handle:
        people = list(csv.DictReader(handle))
    needles = [p[c] for p in people[:200] for c in ("customer_cpf", "customer_email") if p[c]]
    pattern = "|".join(n.replace(".", r"\.") for n in needles)
    tables = [("silver", e) for e in CONTRACTS] + [
        ("gold", g) for g in ("daily_sales", "monthly_gmv", "sales_weather")
    ]
    for layer, name in tables:
        frame = read(spark, settings, layer, name)
        text = F.concat_ws("|", *[F.col(c).cast("string") for c in frame.columns])
        assert frame.where(text.rlike(pattern)).count() == 0, f"{layer}.{name} holds personal data"


def assert_gold_matches_manifest(
    spark: SparkSession, settings: Settings, manifest: Manifest
) -> None:
    daily = read(spark, settings, "gold", "daily_sales")
    totals = daily.agg(F.sum("gmv").alias("gmv"), F.sum("items").alias("items"),
                       F.sum("freight").alias("freight")).first()  # fmt: skip
    assert (totals.gmv, totals.items, totals.freight) == (
        Decimal(manifest.gmv),
        manifest.items,
        Decimal(manifest.freight),
    )
    by_state = {
        r.state: r.gmv for r in daily.groupBy("state").agg(F.sum("gmv").alias("gmv")).collect()
    }
    assert by_state == {state: Decimal(gmv) for state, gmv in manifest.gmv_by_state.items()}
    monthly = read(spark, settings, "gold", "monthly_gmv")
    assert monthly.agg(F.sum("gmv_nominal")).first()[0] == Decimal(manifest.gmv)
    assert (
        monthly.where(F.col("ipca_pct").isNull() | F.col("selic_target_pct").isNull()).count() == 0
    )
    weather = read(spark, settings, "gold", "sales_weather")
    assert weather.agg(F.sum("gmv")).first()[0] == Decimal(manifest.gmv)
    assert weather.where(F.col("temp_avg").isNotNull()).count() > 0


def assert_warehouse_matches_manifest(
    settings: Settings, secrets: Secrets, manifest: Manifest
) -> None:
    """The star schema holds exactly the generator's orders, items, GMV per state, payments
    per type and reviews; the last reconciliation matched silver."""
    with connect(settings, secrets, role="reader") as conn:
        one = lambda sql: conn.execute(sql).fetchone()  # noqa: E731
        assert one("SELECT count(*) FROM dw.fct_order") == (manifest.orders,)
        assert one("SELECT count(*), sum(price), sum(freight_value) FROM dw.fct_order_item") == (
            manifest.items, Decimal(manifest.gmv), Decimal(manifest.freight))  # fmt: skip
        assert one("SELECT count(*) FROM dw.fct_review") == (manifest.reviews,)
        by_state = conn.execute("SELECT state, sum(gmv) FROM dashboard.gmv_by_state GROUP BY 1")
        assert dict(by_state.fetchall()) == {
            state: Decimal(gmv) for state, gmv in manifest.gmv_by_state.items()
        }
        by_type = conn.execute(
            "SELECT payment_type, count(*), sum(payment_value) FROM dw.fct_payment GROUP BY 1"
        ).fetchall()
        assert {t: n for t, n, _ in by_type} == manifest.payments_by_type
        assert {t: v for t, _, v in by_type} == {
            t: Decimal(v) for t, v in manifest.payment_value_by_type.items()
        }
        assert one("SELECT count(*) FROM dw.dim_product WHERE is_inferred") == (0,)
        assert one("SELECT count(*) FROM dw.fct_weather") > (0,)
        assert one("SELECT count(*) FROM dw.fct_indicator WHERE series_code = 433") > (0,)
        latest = conn.execute("SELECT measure, matches FROM dashboard.reconciliation_latest")
        assert dict(latest.fetchall()) == dict.fromkeys(
            ("orders", "order_items", "gmv", "freight", "payments", "payment_value", "reviews"),
            True,
        )


WAREHOUSE_TABLES = (
    "dw.fct_order", "dw.fct_order_item", "dw.fct_payment", "dw.fct_review", "dw.fct_indicator",
    "dw.fct_weather", "dw.fct_weather_observation", "dw.dim_customer", "dw.dim_product",
    "dw.dim_seller", "dw.dim_category", "dw.dim_payment_type", "dw.dim_geography",
)  # fmt: skip


def warehouse_snapshot(conn: psycopg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row (update times included) of the star schema's tables."""
    return {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}").fetchall()), key=repr)
            for t in WAREHOUSE_TABLES}  # fmt: skip


def stream_progress(settings: Settings, secrets: Secrets) -> dict[str, tuple[int, int]]:
    """(rows in, rows out) per query name of this namespace's queries, from ops.stream_progress
    (the queries' checkpoints are under the namespace's lake folder)."""
    ids = query_ids(settings)
    with connect(settings, secrets) as conn:
        rows = conn.execute(
            "SELECT query_name, sum(rows_in), sum(coalesce(rows_out, 0)) FROM ops.stream_progress "
            "WHERE query_id::text = ANY(%s) GROUP BY query_name",
            (list(ids),),
        ).fetchall()
    return {name: (int(rows_in), int(rows_out)) for name, rows_in, rows_out in rows}


def query_ids(settings: Settings) -> set[str]:
    """The ids of the streaming queries whose checkpoints are in this namespace's lake."""
    client = s3_client(settings, load_secrets(settings))
    folder = settings.lake_root.removeprefix(f"s3a://{settings.s3.bucket}").strip("/")
    prefix = f"{folder}/_checkpoints/".lstrip("/")
    ids = set()
    for obj in client.list_objects(settings.s3.bucket, prefix=prefix, recursive=True):
        _query, _, name = obj.object_name.removeprefix(prefix).partition("/")
        if name == "metadata":
            body = client.get_object(settings.s3.bucket, obj.object_name)
            ids.add(json.loads(body.read().decode().splitlines()[0])["id"])
    return ids


def assert_gold_equals_recomputation(spark: SparkSession, settings: Settings) -> None:
    """Every gold table equals a batch recomputation from the silver tables."""
    for name in (DAILY, MONTHLY, WEATHER):
        assert_approx_df_equality(
            read(spark, settings, "gold", name),
            recompute(spark, settings, name),
            precision=1e-9,
            ignore_row_order=True,
            ignore_column_order=True,
            ignore_nullable=True,
        )


BATCH_LINE = re.compile(rb"INFO streaming\.\w+_job: \w+ batch \d+")


def start_stream(
    settings: Settings, log: Path, trigger: str = "availableNow", env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``lakehouse stream`` in the settings' namespace, as its own process group, logging to
    ``log`` (appended)."""
    environment = {**os.environ, **(env or {}), "LAKEHOUSE_NAMESPACE": settings.namespace}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "lakehouse.cli", "stream", "--trigger", trigger],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def batches_logged(log: Path, pattern: re.Pattern[bytes] = BATCH_LINE) -> int:
    return len(pattern.findall(log.read_bytes())) if log.exists() else 0


def wait_for_log(
    process: subprocess.Popen[bytes],
    log: Path,
    seen: int,
    pattern: re.Pattern[bytes] = BATCH_LINE,
    timeout_s: float = 300,
) -> bool:
    """True once ``log`` holds more than ``seen`` matches of ``pattern``; False when the process
    ends first; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if batches_logged(log, pattern) > seen:
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.5)
    raise AssertionError(f"nothing new in the log within {timeout_s} s: {log.read_text()[-2000:]}")


def send_orders(
    settings: Settings, prefix: str, first: int, count: int, timestamp_ms: int | None = None
) -> None:
    """``count`` orders ``<prefix>-<number>`` numbered from ``first`` straight to the orders
    topic (each with its own customer id), with Kafka timestamp ``timestamp_ms`` when given."""
    producer = Producer(producer_config(settings))
    failed: list[str] = []
    for number in range(first, first + count):
        payload = {
            "order_id": f"{prefix}-{number:05d}",
            "customer_id": f"c-{number:05d}",
            "order_status": "delivered",
            "order_purchase_timestamp": "2017-03-04 10:11:12",
        }
        key, value = envelope("olist", "orders", ("order_id",), payload)
        producer.produce(
            kafka_topic(settings, "olist.orders"),
            key=key,
            value=value,
            **({"timestamp": timestamp_ms} if timestamp_ms is not None else {}),
            on_delivery=lambda err, _msg: failed.append(str(err)) if err else None,
        )
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not failed, failed[:3]
