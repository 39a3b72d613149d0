"""Canary: plant a known secret and a known CPF, run the smoke pipeline (producer -> Kafka ->
Spark under spark-submit -> Delta on S3), then look for them,
and for every credential in the vault, in clear in the logs, Kafka, the Delta tables, the S3
server's files and PostgreSQL. None may be found outside the vault."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from pyspark.sql import functions as F

from lakehouse.postgres import connect
from lakehouse.settings import project_root
from lakehouse.stack.process import wait_until
from lakehouse.storage import s3_client
from producers.smoke import produce_smoke_events
from security.runtime import actor, open_vault
from streaming.smoke import smoke_table

CANARY_CPF = "390.533.447-05"
COMMIT = re.compile(r"\d{20}\.(json|checkpoint(\.\d+\.\d+)?\.parquet)")
NO_LEADER_YET = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TIMED_OUT,
}


def _needles(settings) -> dict[str, bytes]:
    vault = open_vault(settings)
    values = {name: vault.get(name, actor=actor()) for name in vault.names()}
    needles = {f"vault:{n}": v.encode() for n, v in values.items() if len(v) >= 8}
    needles["canary cpf"] = CANARY_CPF.encode()
    needles["canary cpf digits"] = CANARY_CPF.replace(".", "").replace("-", "").encode()
    return needles


def _found_in(blob: bytes, needles: dict[str, bytes]) -> list[str]:
    return [name for name, needle in needles.items() if needle in blob]


def _watermarks(consumer: Consumer, partition: TopicPartition) -> tuple[int, int]:
    """A partition's low and high offsets, asked again while a topic created moments ago has
    no leader yet (a retriable error), for at most 30 s."""
    offsets: list[tuple[int, int]] = []

    def answered() -> bool:
        try:
            offsets.append(consumer.get_watermark_offsets(partition, timeout=10))
        except KafkaException as exc:
            if exc.args[0].code() not in NO_LEADER_YET and not exc.args[0].retriable():
                raise
            return False
        return True

    wait_until(answered, deadline_s=30, what=f"the offsets of {partition.topic}", poll_s=0.5)
    return offsets[-1]


def _found_in_kafka(settings, needles: dict[str, bytes]) -> list[str]:
    """Needles found in any key or value of any topic, reading every partition to its end."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap,
            "group.id": f"canary-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    found: set[str] = set()
    try:
        metadata = consumer.list_topics(timeout=10)
        remaining = {}
        for name, topic in metadata.topics.items():
            for pid in topic.partitions:
                low, high = _watermarks(consumer, TopicPartition(name, pid))
                if high > low:
                    remaining[(name, pid)] = (low, high)
        consumer.assign([TopicPartition(t, p, low) for (t, p), (low, _) in remaining.items()])

        def drained() -> bool:
            for msg in consumer.consume(10_000, timeout=0.5):
                if msg.error() is not None:
                    continue
                found.update(_found_in((msg.key() or b"") + b"\0" + (msg.value() or b""), needles))
                end = remaining.get((msg.topic(), msg.partition()), (0, 0))[1]
                if msg.offset() + 1 >= end:
                    remaining.pop((msg.topic(), msg.partition()), None)
            return not remaining

        wait_until(drained, deadline_s=600, what="every Kafka partition to be read", poll_s=0)
    finally:
        consumer.close()
    return sorted(found)


def _delta_tables(settings, secrets) -> list[str]:
    """Every Delta table in the lake bucket: a folder whose _delta_log/ holds a commit (a
    driver killed while creating a table leaves the folder alone, which holds no data)."""
    client = s3_client(settings, secrets)
    roots = set()
    for obj in client.list_objects(settings.s3.bucket, recursive=True):
        root, _, name = obj.object_name.partition("/_delta_log/")
        if name and COMMIT.fullmatch(name):
            roots.add(root)
    return [f"{settings.s3.lake_root}/{root}" for root in sorted(roots)]


def _postgres_contents(settings, secrets) -> bytes:
    with connect(settings, secrets) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        rows = []
        for schema, table in tables:
            query = f'SELECT t::text FROM "{schema}"."{table}" t'
            rows += [r[0] for r in conn.execute(query)]  # type: ignore[arg-type]
    return "\n".join(rows).encode()


def test_no_secret_and_no_cpf_in_clear_anywhere(spark, settings, secrets, run_id) -> None:
    needles = _needles(settings)
    assert produce_smoke_events(settings, 100, f"{run_id}-canary", cpf=CANARY_CPF) == 100
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}"}
    runs = [
        subprocess.run(
            [str(venv_bin / "spark-submit"), "--properties-file", "spark-defaults.conf",
             "--conf", f"spark.driver.extraClassPath={settings.jars_dir}/*",
             "streaming/smoke.py", "--trigger", "availableNow"],
            cwd=project_root(), env=env, capture_output=True, text=True, timeout=900, check=False,
        ),
    ]  # fmt: skip
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]

    places: dict[str, list[str]] = {}
    places["process output"] = _found_in(
        "".join(r.stdout + r.stderr for r in runs).encode(), needles
    )
    logs = b"".join(p.read_bytes() for p in (settings.home / "logs").rglob("*") if p.is_file())
    places["service logs"] = _found_in(logs, needles)
    places["kafka"] = _found_in_kafka(settings, needles)
    s3_files = b"".join(
        p.read_bytes() for p in (settings.home / "services" / "s3").rglob("*") if p.is_file()
    )
    places["s3 server files"] = _found_in(s3_files, needles)
    found_in_delta: set[str] = set()
    for table in _delta_tables(settings, secrets):
        frame = spark.read.format("delta").load(table)
        text = F.concat_ws("\u0001", *[F.col(f"`{c}`").cast("string") for c in frame.columns])
        # one job per table: for each needle, whether any row holds it
        hits = frame.select(text.alias("text")).agg(*[
            F.max(F.col("text").contains(needle.decode()).cast("int")).alias(f"n{i}")
            for i, needle in enumerate(needles.values())
        ]).first()  # fmt: skip
        for i, name in enumerate(needles):
            if hits is not None and hits[f"n{i}"]:
                found_in_delta.add(f"{name} in {table}")
    places["delta tables"] = sorted(found_in_delta)
    places["postgresql"] = _found_in(_postgres_contents(settings, secrets), needles)
    audit = (settings.home / "audit" / "audit.log").read_bytes()
    places["audit trail"] = _found_in(audit, needles)

    assert {place: found for place, found in places.items() if found} == {}
    # The canary did go through the pipeline, masked: its display mask is in the smoke table.
    smoke = spark.read.format("delta").load(smoke_table(settings))
    assert smoke.where(smoke.value.contains("***.533.447-**")).count() >= 100
