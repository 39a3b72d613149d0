"""Jar naming, pom rendering, the lock and the Hadoop check, without the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.errors import SetupError
from lakehouse.install import maven
from lakehouse.install.jars import check_hadoop_matches


@pytest.mark.parametrize(
    ("name", "artifact", "version"),
    [
        ("hadoop-client-api-3.5.0.jar", "hadoop-client-api", "3.5.0"),
        ("delta-spark_4.2_2.13-4.4.0.jar", "delta-spark_4.2_2.13", "4.4.0"),
        ("zstd-jni-1.5.7-7.jar", "zstd-jni", "1.5.7-7"),
        ("wildfly-openssl-2.2.5.Final.jar", "wildfly-openssl", "2.2.5.Final"),
    ],
)
def test_jar_names_split_into_artifact_and_version(name: str, artifact: str, version: str) -> None:
    assert maven.artifact_of(name) == artifact
    assert maven.version_of(name) == version


def test_pom_lists_each_coordinate() -> None:
    jar_set = maven.JarSet("spark", ("a.b:c_2.13:1.0", "d:e:2.0"), Path("/unused"))
    pom = maven.render_pom(jar_set)
    assert "<groupId>a.b</groupId><artifactId>c_2.13</artifactId><version>1.0</version>" in pom
    assert "<groupId>d</groupId><artifactId>e</artifactId><version>2.0</version>" in pom


def test_lock_round_trip(tmp_path: Path) -> None:
    locked = {"spark": {"a-1.jar": "0" * 64}, "kafka": {"b-2.jar": "1" * 64}}
    maven.write_lock(tmp_path / "jars.lock", locked)
    assert maven.read_lock(tmp_path / "jars.lock") == locked


def test_verify_names_a_changed_jar_and_stamps_a_good_set(tmp_path: Path) -> None:
    (tmp_path / "a-1.jar").write_bytes(b"jar a")
    jar_set = maven.JarSet("spark", (), tmp_path)
    good = maven.digests(jar_set)
    maven.verify(jar_set, good)
    assert maven.is_current(jar_set, good)

    (tmp_path / "a-1.jar").write_bytes(b"tampered")
    assert not maven.is_current(jar_set, good)
    with pytest.raises(SetupError, match=r"different sha256: \['a-1.jar'\]"):
        maven.verify(jar_set, good)


def test_verify_names_missing_and_unlocked_jars(tmp_path: Path) -> None:
    (tmp_path / "extra-1.jar").write_bytes(b"x")
    jar_set = maven.JarSet("kafka", (), tmp_path)
    with pytest.raises(
        SetupError, match=r"missing: \['gone-1.jar'\].*not locked: \['extra-1.jar'\]"
    ):
        maven.verify(jar_set, {"gone-1.jar": "0" * 64})


def test_hadoop_mismatch_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "hadoop-client-api-3.4.2.jar").write_bytes(b"")
    with pytest.raises(
        SetupError, match=r"pyspark carries Hadoop 3\.4\.2 but hadoop-aws is pinned"
    ):
        check_hadoop_matches(tmp_path, pinned="3.5.0")
    assert check_hadoop_matches(tmp_path, pinned="3.4.2") == "3.4.2"


def test_hadoop_check_needs_the_wheel_jar(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="no hadoop-client-api"):
        check_hadoop_matches(tmp_path)
