"""Structured Streaming from Kafka into Delta on S3 with a checkpoint, under availableNow: the
rows equal what was produced, a second run adds nothing, a third picks up only what is new.
The same pipeline runs under spark-submit with the committed spark-defaults.conf."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from chispa import assert_df_equality
from confluent_kafka import Producer
from pyspark.sql import functions as F

from lakehouse.kafka import ensure_topics, producer_config
from lakehouse.registry import Topic, table_path
from lakehouse.settings import project_root
from producers.smoke import produce_smoke_events
from streaming.smoke import smoke_table, stream_topic_to_delta


def _produce(settings, topic: str, records: dict[str, str]) -> None:
    producer = Producer(producer_config(settings))
    failures: list[object] = []
    for key, value in records.items():
        producer.produce(
            topic, key=key, value=value, on_delivery=lambda e, _m: failures.append(e) if e else None
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert failures == []


def test_stream_equals_produced_and_replays_add_nothing(spark, settings, run_id) -> None:
    topic = Topic(f"it.stream.{run_id}", ("id",))
    ensure_topics(settings, [topic])
    table = table_path(settings, "smoke", f"it_stream_{run_id}")

    def run() -> int:
        return stream_topic_to_delta(
            spark,
            settings,
            topic=topic.name,
            table=table,
            query_name=f"it_stream_{run_id}",
            trigger="availableNow",
        )

    first = {f"k{i}": json.dumps({"id": i, "city": "Florianópolis"}) for i in range(300)}
    _produce(settings, topic.name, first)
    assert run() == len(first)
    bronze = spark.read.format("delta").load(table)
    expected = spark.createDataFrame(list(first.items()), "key STRING, value STRING")
    assert_df_equality(bronze.select("key", "value"), expected, ignore_row_order=True)
    assert bronze.select("partition", "offset").distinct().count() == len(first)
    assert bronze.where(F.col("topic") != topic.name).count() == 0

    assert run() == 0
    assert spark.read.format("delta").load(table).count() == len(first)

    second = {f"k{i}": json.dumps({"id": i}) for i in range(300, 350)}
    _produce(settings, topic.name, second)
    assert run() == len(second)
    assert spark.read.format("delta").load(table).count() == len(first) + len(second)


def test_smoke_app_runs_under_spark_submit(spark, settings, run_id) -> None:
    produced = produce_smoke_events(settings, 200, run_id)
    venv_bin = Path(sys.executable).parent
    argv = [str(venv_bin / "spark-submit"), "--properties-file", "spark-defaults.conf"]
    if settings.home != project_root() / ".lakehouse":  # the file names the default home
        argv += ["--conf", f"spark.driver.extraClassPath={settings.jars_dir}/*"]
    argv += ["streaming/smoke.py", "--trigger", "availableNow"]
    env = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "PATH": f"{venv_bin}:{os.environ['PATH']}",
    }
    proc = subprocess.run(
        argv, cwd=project_root(), env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "smoke stream:" in proc.stdout
    rows = spark.read.format("delta").load(smoke_table(settings))
    assert rows.where(F.get_json_object("value", "$.run_id") == run_id).count() == produced == 200
