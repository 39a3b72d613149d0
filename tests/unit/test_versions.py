"""The pins agree with each other: requirements.txt, lakehouse/versions.py and jars.lock."""

from __future__ import annotations

import re

from lakehouse import versions
from lakehouse.install.maven import read_lock
from lakehouse.settings import project_root


def _requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (project_root() / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_python_and_jvm_pins_agree() -> None:
    pins = _requirement_pins()
    assert pins["pyspark"] == versions.SPARK_VERSION
    assert pins["delta-spark"] == versions.DELTA_VERSION


def test_every_requirement_is_pinned_exactly() -> None:
    lines = [
        line.strip()
        for line in (project_root() / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines and all("==" in line for line in lines), lines


def test_delta_artifact_follows_the_spark_minor_version() -> None:
    assert versions.DELTA_ARTIFACT == "delta-spark_4.2_2.13"


def test_lock_holds_the_pinned_jars() -> None:
    lock = read_lock(project_root() / "jars.lock")
    spark, kafka = set(lock["spark"]), set(lock["kafka"])
    assert f"{versions.DELTA_ARTIFACT}-{versions.DELTA_VERSION}.jar" in spark
    assert f"hadoop-aws-{versions.HADOOP_VERSION}.jar" in spark
    assert f"spark-sql-kafka-0-10_2.13-{versions.SPARK_VERSION}.jar" in spark
    assert f"kafka_2.13-{versions.KAFKA_VERSION}.jar" in kafka
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for s in lock.values() for d in s.values())
