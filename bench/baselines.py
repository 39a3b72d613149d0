"""Raw baselines, each the bare floor under one stage of the pipeline, measured on this
machine against the same services:

- Kafka: a bare confluent-kafka loop (idempotent producer, ``poll(0)`` per record) over the
  records the Olist replay would send, pre-serialised.
- Spark -> Delta: Spark's ``rate-micro-batch`` source appended to a Delta table on the S3
  server in one micro-batch (what any streaming write there costs).
- Parquet -> S3: pyarrow writing the same records (key, value) as one Parquet file to the S3
  server (no Spark, no Delta log).
- COPY into PostgreSQL: ``bench.warehouse_bench``'s sink case, whose baseline is a COPY of the
  same CSV bytes into a plain table.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import Producer
from pyarrow import fs

from lakehouse.kafka import producer_config
from lakehouse.registry import kafka_topic, pipeline_topics
from lakehouse.settings import Secrets, Settings
from producers.csv_records import read_records
from producers.olist import Row, present_entities, read_header, to_row
from streaming.kafka_source import kafka_stream


def serialised_rows(data_dir: Path) -> list[Row]:
    """Every record as the replay would send it (built untimed)."""
    rows = []
    for entity in present_entities(data_dir):
        path = data_dir / entity.file_name
        header, after = read_header(entity, path)
        for record in read_records(path, after.offset, after.line):
            rows.append(to_row(entity, header, record, f"{entity.file_name}:{record.line}"))
    return rows


def kafka_bare_loop(settings: Settings, rows: list[Row]) -> float:
    """Seconds for a bare idempotent producer loop over ``rows`` into the namespace's topics."""
    producer = Producer(producer_config(settings, **{"client.id": "bench-bare"}))
    topics = {row.topic: kafka_topic(settings, row.topic) for row in rows[:1000]}
    began = time.perf_counter()
    for row in rows:
        topic = topics.get(row.topic) or topics.setdefault(
            row.topic, kafka_topic(settings, row.topic)
        )
        while True:
            try:
                producer.produce(topic, key=row.key.encode(), value=row.value)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("the bare producer loop did not deliver every record")
    return time.perf_counter() - began


def spark_rate_to_delta(spark, path: str, rows: int) -> float:
    """Seconds for one ``rate-micro-batch`` batch of ``rows`` rows appended to Delta at ``path``."""
    began = time.perf_counter()
    query = (
        spark.readStream.format("rate-micro-batch")
        .option("rowsPerBatch", rows)
        .load()
        .writeStream.format("delta")
        .option("checkpointLocation", f"{path}_checkpoint")
        .trigger(availableNow=True)
        .start(path)
    )
    query.awaitTermination()
    return time.perf_counter() - began


def spark_kafka_to_delta(
    spark, settings: Settings, path: str, max_offsets: int
) -> tuple[float, int]:
    """Seconds and records for Spark to read every pipeline topic of the settings' namespace
    from Kafka into ONE Delta table at ``path``, a plain append and nothing else (batches of
    ``max_offsets`` records, as the ingest query): the floor under the ingest query."""
    topics = [kafka_topic(settings, t) for t in pipeline_topics()]
    began = time.perf_counter()
    query = (
        kafka_stream(spark, settings, topics, max_offsets)  # the ingest query's reader
        .selectExpr(
            "CAST(key AS STRING) AS key",
            "CAST(value AS STRING) AS value",
            "topic",
            "partition",
            "offset",
            "timestamp",
        )
        .writeStream.format("delta")
        .option("checkpointLocation", f"{path}_checkpoint")
        .trigger(availableNow=True)
        .start(path)
    )
    query.awaitTermination()
    seconds = time.perf_counter() - began
    return seconds, sum(p["numInputRows"] for p in query.recentProgress)


def s3_filesystem(settings: Settings, secrets: Secrets) -> fs.S3FileSystem:
    s3 = settings.s3
    return fs.S3FileSystem(
        access_key=secrets.require("s3_access_key"),
        secret_key=secrets.require("s3_secret_key"),
        endpoint_override=s3.url,
        scheme="https" if s3.secure else "http",
        region=s3.region,
    )


def parquet_to_s3(filesystem: fs.S3FileSystem, key: str, rows: list[Row]) -> float:
    """Seconds for pyarrow to write ``rows`` (key, value) as one Parquet file at ``key``
    (``bucket/path``) on the S3 server, the Arrow table built untimed."""
    table = pa.table(
        {"key": [row.key for row in rows], "value": [row.value.decode() for row in rows]}
    )
    began = time.perf_counter()
    pq.write_table(table, key, filesystem=filesystem, compression="snappy")
    return time.perf_counter() - began
