"""The Spark driver's class archive: named after its Java and jars, mapped by local drivers
once written, written whole or not at all."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from lakehouse.errors import SetupError
from lakehouse.install import class_archive
from lakehouse.settings import Settings
from lakehouse.spark import launch_conf

JARS = ("delta-spark_4.2_2.13-4.4.0.jar", "hadoop-aws-3.5.0.jar")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    jars = tmp_path / "home" / "jars" / "spark"
    jars.mkdir(parents=True)
    for name in JARS:
        (jars / name).write_bytes(b"jar")
    return Settings(home=tmp_path / "home")


def test_the_archive_is_named_after_the_jars(settings: Settings) -> None:
    first = class_archive.archive_path(settings)
    assert first is not None and first.parent == settings.home / "cache" / "jvm"
    assert class_archive.archive_path(settings) == first
    (settings.jars_dir / JARS[0]).write_bytes(b"another build of the jar")
    assert class_archive.archive_path(settings) != first


def test_a_local_driver_maps_the_archive_once_written(settings: Settings) -> None:
    assert "spark.driver.extraJavaOptions" not in launch_conf(settings)
    path = class_archive.archive_path(settings)
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_bytes(b"archive")
    options = launch_conf(settings)["spark.driver.extraJavaOptions"]
    assert options == f"-XX:SharedArchiveFile={path}"
    cluster = settings.spark.model_copy(update={"master": "spark://127.0.0.1:7077"})
    # a cluster's driver has another class path (spark.jars): the archive would not match it
    remote = launch_conf(settings.model_copy(update={"spark": cluster}))
    assert "spark.driver.extraJavaOptions" not in remote


def _training(monkeypatch: pytest.MonkeyPatch, writes: bytes | None, code: int) -> list[Any]:
    calls: list[Any] = []

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        calls.append(argv)
        if writes is not None:
            Path(argv[-1]).write_bytes(writes)
        return subprocess.CompletedProcess(argv, code)

    monkeypatch.setattr(class_archive.subprocess, "run", run)
    return calls


def test_a_failed_training_run_leaves_no_archive(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _training(monkeypatch, writes=b"half an archive", code=1)
    with pytest.raises(SetupError, match=r"class-archive\.log"):
        class_archive.ensure_archive(settings)
    assert len(calls) == 1
    assert list((settings.home / "cache" / "jvm").iterdir()) == []
    assert "spark.driver.extraJavaOptions" not in launch_conf(settings)


def test_the_archive_is_written_once_and_replaces_older_ones(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = settings.home / "cache" / "jvm"
    folder.mkdir(parents=True)
    (folder / "spark-0000000000000000.jsa").write_bytes(b"for other jars")
    calls = _training(monkeypatch, writes=b"archive", code=0)
    path = class_archive.ensure_archive(settings)
    assert path is not None and path.read_bytes() == b"archive"
    assert [p.name for p in folder.iterdir()] == [path.name]
    assert class_archive.ensure_archive(settings) == path
    assert len(calls) == 1  # the second call found it
