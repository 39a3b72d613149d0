"""The runtime's parts against the real stack: Delta on the S3 server through S3A (write, read,
MERGE, time travel), a Kafka round trip, and a PostgreSQL round trip."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from chispa import assert_df_equality
from confluent_kafka import Consumer, Producer
from delta.tables import DeltaTable

from lakehouse.kafka import ensure_topics, producer_config
from lakehouse.postgres import connect
from lakehouse.registry import Topic, table_path
from lakehouse.stack.process import wait_until
from lakehouse.storage import s3_client
from streaming.bronze_job import LakeLayoutError, ensure_bronze_table
from streaming.delta_io import ensure_table, table_exists


def test_delta_on_s3_write_read_merge_and_time_travel(spark, settings, run_id) -> None:
    path = table_path(settings, "smoke", f"it_delta_{run_id}")
    first = spark.createDataFrame([(1, "a"), (2, "b"), (3, "c")], "k INT, v STRING")
    first.write.format("delta").save(path)
    assert_df_equality(spark.read.format("delta").load(path), first, ignore_row_order=True)

    updates = spark.createDataFrame([(2, "B"), (4, "d")], "k INT, v STRING")
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(updates.alias("u"), "t.k = u.k")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
    merged = spark.createDataFrame([(1, "a"), (2, "B"), (3, "c"), (4, "d")], "k INT, v STRING")
    assert_df_equality(spark.read.format("delta").load(path), merged, ignore_row_order=True)

    version_0 = spark.read.format("delta").option("versionAsOf", 0).load(path)
    assert_df_equality(version_0, first, ignore_row_order=True)
    history = DeltaTable.forPath(spark, path).history().select("version", "operation").collect()
    assert {(r.version, r.operation) for r in history} == {(0, "WRITE"), (1, "MERGE")}


def test_kafka_topic_round_trip(settings, run_id) -> None:
    topic = Topic(f"it.roundtrip.{run_id}", ("id",), partitions=3)
    assert ensure_topics(settings, [topic]) == [topic.name]
    assert ensure_topics(settings, [topic]) == []

    sent = {f"id-{i}": json.dumps({"id": i, "text": "pão de açúcar"}) for i in range(500)}
    acked: list[str] = []
    producer = Producer(producer_config(settings))
    for key, value in sent.items():
        producer.produce(
            topic.name,
            key=key,
            value=value,
            on_delivery=lambda err, msg: acked.append(msg.key().decode()) if err is None else None,
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert sorted(acked) == sorted(sent)

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "group.id": f"it-{run_id}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic.name])
    received: dict[str, str] = {}

    def drained() -> bool:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            received[msg.key().decode()] = msg.value().decode()
        return len(received) == len(sent)

    try:
        wait_until(drained, deadline_s=60, what="every produced record to be consumed", poll_s=0)
    finally:
        consumer.close()
    assert received == sent


def test_postgres_round_trip(settings, secrets, run_id) -> None:
    rows = [(1, "São Paulo", 12.5), (2, "Belém", 0.0), (3, None, -3.25)]
    with connect(settings, secrets) as conn:
        conn.execute("CREATE TEMP TABLE it_round_trip (id int PRIMARY KEY, city text, v numeric)")
        with conn.cursor() as cur, cur.copy("COPY it_round_trip (id, city, v) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        back = conn.execute("SELECT id, city, v::float8 FROM it_round_trip ORDER BY id").fetchall()
        user = conn.execute("SELECT current_user").fetchone()[0]
    assert back == rows
    assert user == settings.postgres.user


def test_a_half_created_table_is_created_again(spark, settings, secrets, run_id) -> None:
    """A driver killed while creating a table leaves ``_delta_log`` (with Delta's
    ``_staged_commits``) but no commit: the next start must create the table, not take the
    folder for one."""
    path = table_path(settings, "smoke", f"it_half_created_{run_id}")
    key = path.removeprefix(f"s3a://{settings.s3.bucket}/") + "/_delta_log/_staged_commits/.keep"
    s3_client(settings, secrets).put_object(settings.s3.bucket, key, io.BytesIO(b""), 0)
    assert not table_exists(spark, path)

    ensure_table(spark, path, "k INT, v STRING")
    assert table_exists(spark, path)
    assert spark.read.format("delta").load(path).columns == ["k", "v"]
    assert DeltaTable.forPath(spark, path).history().count() == 1


def test_a_lake_of_the_per_topic_bronze_layout_is_refused_with_what_to_do(
    spark, settings, run_id
) -> None:
    """bronze was a table per topic; this release cannot continue such a lake's queries and
    says so, rather than starting a second bronze beside the first."""
    lake = settings.model_copy(update={"namespace": f"old-layout-{run_id}"})
    ensure_table(spark, table_path(lake, "bronze", "olist_orders"), "value STRING")
    with pytest.raises(LakeLayoutError, match=r"per-topic bronze layout.*batch migrate-bronze"):
        ensure_bronze_table(spark, lake)
    assert not table_exists(spark, table_path(lake, "bronze", "events"))


def test_streaming_in_a_namespace_without_its_database_says_what_to_run(settings, run_id) -> None:
    env = {**os.environ, "LAKEHOUSE_NAMESPACE": f"nodb-{run_id}"}
    done = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli", "stream", "--trigger", "availableNow"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert f"LAKEHOUSE_NAMESPACE=nodb-{run_id} lakehouse migrate" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
