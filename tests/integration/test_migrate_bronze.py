"""A lake of the per-topic bronze layout of earlier releases: refused at start with the command
that migrates it; that command copies the topics' rows into bronze.events once, however often
it runs, and the ingest query then resumes after the records bronze holds instead of appending
Kafka's records a second time."""

from __future__ import annotations

import io

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from batch.migrate_bronze import migrate_bronze
from lakehouse.kafka import ensure_topics
from lakehouse.postgres import connect
from lakehouse.registry import all_topics, checkpoint_path, kafka_topic, table_path
from lakehouse.settings import Secrets, Settings
from lakehouse.storage import s3_client
from streaming.app import start_queries
from streaming.bronze import kafka_to_bronze
from streaming.bronze_job import MIGRATE_COMMAND, LakeLayoutError, read_bronze
from streaming.delta_io import path_exists
from tests.integration import pipeline_input as pi

TOPIC = "olist.orders"


def _old_layout(spark: SparkSession, settings: Settings, secrets: Secrets) -> None:
    """What the per-topic release left: bronze/olist_orders holding the topic's records so
    far, and its bronze query's checkpoint."""
    records = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka.bootstrap)
        .option("subscribe", kafka_topic(settings, TOPIC))
        .option("startingOffsets", "earliest")
        .load()
    )
    path = table_path(settings, "bronze", TOPIC)
    kafka_to_bronze(records).write.format("delta").partitionBy("ingest_date").save(path)
    folder = checkpoint_path(settings, "bronze").removeprefix(f"s3a://{settings.s3.bucket}/")
    offsets = io.BytesIO(b"v1\n{}\n")
    s3_client(settings, secrets).put_object(settings.s3.bucket, f"{folder}/offsets/0", offsets, 6)


def _stream(spark: SparkSession, settings: Settings, secrets: Secrets) -> None:
    for query in start_queries(spark, settings, "availableNow", secrets):
        query.awaitTermination()
        assert query.exception() is None, query.exception()


def test_a_per_topic_lake_is_migrated_once_and_ingest_resumes_after_it(
    spark: SparkSession, ns_settings: Settings, secrets: Secrets
) -> None:
    ensure_topics(ns_settings, all_topics())
    pi.send_orders(ns_settings, "mig", 0, 10)
    _old_layout(spark, ns_settings, secrets)

    with pytest.raises(LakeLayoutError) as refused:
        start_queries(spark, ns_settings, "availableNow", secrets)
    assert MIGRATE_COMMAND in str(refused.value) and "bronze/olist_orders" in str(refused.value)
    assert MIGRATE_COMMAND == "lakehouse batch migrate-bronze"

    first = migrate_bronze(spark, ns_settings, secrets)
    assert "1 per-topic tables (10 rows appended)" in first, first
    assert not path_exists(spark, checkpoint_path(ns_settings, "bronze"))
    again = migrate_bronze(spark, ns_settings, secrets)
    assert "(0 rows appended)" in again, again

    pi.send_orders(ns_settings, "mig", 10, 5)
    _stream(spark, ns_settings, secrets)

    orders = read_bronze(spark, ns_settings, TOPIC)
    coordinates = orders.select("partition", "offset").distinct().count()
    assert (orders.count(), coordinates) == (15, 15)  # nothing appended twice
    # silver and the warehouse get what ingest read: the records after the migrated ones
    silver = spark.read.format("delta").load(table_path(ns_settings, "silver", "orders"))
    assert sorted(
        r.order_id for r in silver.where(F.col("order_id").startswith("mig-")).collect()
    ) == [f"mig-{n:05d}" for n in range(10, 15)]
    with connect(ns_settings, secrets, role="reader") as conn:
        (loaded,) = conn.execute(
            "SELECT count(*) FROM dw.fct_order WHERE order_id LIKE 'mig-%'"
        ).fetchone()
    assert loaded == 5
