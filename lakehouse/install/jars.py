"""Spark's extra jars (Delta, Kafka connector, S3A + AWS SDK) and the Kafka broker's jars."""

from __future__ import annotations

import logging
from pathlib import Path

from lakehouse import versions
from lakehouse.errors import SetupError
from lakehouse.install import maven
from lakehouse.settings import Settings, project_root

log = logging.getLogger(__name__)

LOCK_FILE_NAME = "jars.lock"


def pyspark_jars_dir() -> Path:
    """The jars folder inside the installed pyspark wheel."""
    try:
        import pyspark
    except ImportError as exc:  # pragma: no cover - bootstrap installs pyspark first
        raise SetupError("pyspark is not installed: run the bootstrap (`make setup`)") from exc
    return Path(pyspark.__file__).parent / "jars"


def wheel_hadoop_version(jars_dir: Path) -> str:
    """The Hadoop version the pyspark wheel carries, read from hadoop-client-api-*.jar."""
    found = sorted(jars_dir.glob("hadoop-client-api-*.jar"))
    if not found:
        raise SetupError(f"no hadoop-client-api-*.jar in {jars_dir}: is pyspark installed whole?")
    version = maven.version_of(found[0].name)
    if version is None:
        raise SetupError(f"cannot read the Hadoop version from {found[0].name}")
    return version


def check_hadoop_matches(jars_dir: Path, pinned: str = versions.HADOOP_VERSION) -> str:
    """Fail loudly when hadoop-aws's pin differs from the wheel's Hadoop (S3A breaks then)."""
    carried = wheel_hadoop_version(jars_dir)
    if carried != pinned:
        raise SetupError(
            f"pyspark carries Hadoop {carried} but hadoop-aws is pinned to {pinned}: S3A fails "
            f"at run time when they differ. Set HADOOP_VERSION = {carried!r} in "
            "lakehouse/versions.py, run `lakehouse setup --update-lock` and commit jars.lock."
        )
    return carried


def jar_sets(settings: Settings) -> list[maven.JarSet]:
    return [
        maven.JarSet("spark", tuple(versions.spark_maven_coordinates()), settings.jars_dir),
        maven.JarSet(
            "kafka", tuple(versions.kafka_maven_coordinates()), settings.home / "kafka" / "libs"
        ),
    ]


def install_jars(settings: Settings, *, update_lock: bool = False) -> None:
    """Resolve every jar set unless it is already present and verified against jars.lock."""
    jars_dir = pyspark_jars_dir()
    check_hadoop_matches(jars_dir)
    provided = {maven.artifact_of(p.name) for p in jars_dir.glob("*.jar")}
    lock_file = project_root() / LOCK_FILE_NAME
    locked = maven.read_lock(lock_file)
    changed = False
    for jar_set in jar_sets(settings):
        expected = locked.get(jar_set.name, {})
        if not update_lock and maven.is_current(jar_set, expected):
            log.info("%s jars: %d present and verified", jar_set.name, len(expected))
            continue
        kept = maven.resolve(
            jar_set,
            maven_repo=settings.home / "cache" / "m2",
            build_dir=settings.home / "build",
            provided=provided if jar_set.name == "spark" else None,
        )
        log.info("%s jars: resolved %d", jar_set.name, len(kept))
        if update_lock or not expected:
            locked[jar_set.name] = maven.digests(jar_set)
            changed = True
        maven.verify(jar_set, locked[jar_set.name])
    if changed:
        maven.write_lock(lock_file, locked)
        log.info("wrote %s", lock_file)


def spark_jar_paths(settings: Settings) -> list[Path]:
    """The resolved Spark jars, for ``spark.jars``; SetupError if setup has not run."""
    jars = sorted(settings.jars_dir.glob("*.jar"))
    if not jars:
        raise SetupError(f"no Spark jars in {settings.jars_dir}: run `lakehouse setup`")
    return jars
