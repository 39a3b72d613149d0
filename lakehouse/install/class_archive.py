"""A class-data sharing archive (AppCDS) of the classes a Spark driver of this project loads.

A driver JVM loads and verifies some twenty thousand classes (Spark SQL, Delta, Hadoop, the
AWS SDK) before its first batch. Mapped from an archive written once at setup, they cost
about 8 s less on 2 cores per JVM start: the streaming application's first start, its
restart after a crash, every batch job and test. The archive is written by a training run
(``train``: Spark SQL, Delta and the streaming sources on a local temporary folder, no
service needed) with ``-XX:ArchiveClassesAtExit`` and named after what it must match: the
Java binary and the jars on the driver's class path. A JVM launched with another class path
than the archive's ignores it with a warning and loads its classes as usual, so a stale
archive costs time, never correctness; setup writes a new one when the key changes.

    python -m lakehouse.install.class_archive TARGET   # the training run (setup starts it)
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.errors import SetupError
from lakehouse.install.jars import pyspark_jars_dir, spark_jar_paths
from lakehouse.settings import Settings, get_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

FORMAT = "1"  # bump when the training run changes what it loads


def _java() -> Path | None:
    java_home = os.environ.get("JAVA_HOME")
    found = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    return Path(found).resolve() if found else None


def driver_class_path(settings: Settings) -> str:
    """The jars a local driver has on its class path, in order, as ``extraClassPath``."""
    return os.pathsep.join(str(p) for p in spark_jar_paths(settings))


def archive_path(settings: Settings) -> Path | None:
    """Where the archive for this Java and these jars lives (None without Java or jars)."""
    java = _java()
    jar_dirs = [settings.jars_dir, pyspark_jars_dir()]
    if java is None or not java.is_file() or not any(d.is_dir() for d in jar_dirs):
        return None
    digest = hashlib.sha256(f"{FORMAT}\n{java}\n{java.stat().st_size}\n".encode())
    for folder in jar_dirs:
        for jar in sorted(folder.glob("*.jar")):
            digest.update(f"{jar.name}:{jar.stat().st_size}\n".encode())
    return settings.home / "cache" / "jvm" / f"spark-{digest.hexdigest()[:16]}.jsa"


def java_options(settings: Settings) -> str | None:
    """The driver's JVM option that maps the archive, when it has been written."""
    path = archive_path(settings)
    return f"-XX:SharedArchiveFile={path}" if path is not None and path.is_file() else None


def ensure_archive(settings: Settings) -> Path | None:
    """Write the archive unless the one for this Java and these jars exists; older archives
    are removed. Returns its path (None when no JVM can be trained: no jars yet)."""
    path = archive_path(settings)
    if path is None:
        return None
    if path.is_file():
        log.info("class archive %s present", path.name)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob("spark-*.jsa*"):
        old.unlink()
    partial = path.with_suffix(".jsa.partial")
    log.info("writing the class archive of the Spark driver (a training run, about a minute)")
    log_file = settings.home / "build" / "class-archive.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as out:
        done = subprocess.run(
            [sys.executable, "-m", __name__, str(partial)],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
            check=False,
        )
    if done.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
        partial.unlink(missing_ok=True)
        raise SetupError(f"the class archive's training run failed: see {log_file}")
    partial.rename(path)  # whole, or not there: a JVM never maps a half-written archive
    log.info("class archive %s: %.0f MiB", path.name, path.stat().st_size / 2**20)
    return path


def train(target: Path) -> None:
    """Run a small workload touching what the project's drivers use, in a JVM that writes
    the classes it loaded to ``target`` when it exits."""
    from delta.tables import DeltaTable
    from pyspark.sql import SparkSession, Window
    from pyspark.sql import functions as F

    settings = get_settings()
    builder = SparkSession.builder.appName("lakehouse-class-archive")
    conf = {
        "spark.master": "local[2]",
        # the class path of every driver the project launches (lakehouse.spark.launch_conf)
        "spark.driver.extraClassPath": driver_class_path(settings),
        "spark.driver.extraJavaOptions": f"-XX:ArchiveClassesAtExit={target}",
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": "2",
        "spark.databricks.delta.snapshotPartitions": "1",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    with tempfile.TemporaryDirectory(prefix="class-archive-") as folder:
        table = f"{folder}/table"
        values = spark.range(200).select(
            F.to_json(
                F.struct(
                    F.expr("uuid()").alias("event_id"),
                    (F.col("id") % 7).alias("k"),
                    F.create_map(F.lit("amount"), F.format_string("%d.50", "id")).alias("p"),
                )
            ).alias("value")
        )
        schema = "event_id STRING, k BIGINT, p MAP<STRING, STRING>"
        parsed = values.select(F.from_json("value", schema).alias("e"), "value").select(
            "e.event_id",
            "e.k",
            F.col("e.p")["amount"].try_cast("decimal(12,2)").alias("amount"),
            F.try_to_timestamp(F.lit("2017-01-02 03:04:05")).alias("at"),
            F.sha2("value", 256).alias("token"),
            F.regexp_replace("value", r"\d{3}", "#").alias("masked"),
            F.try_parse_json("value").alias("variant"),
        )
        newest = Window.partitionBy("k").orderBy(F.col("event_id").desc())
        rows = parsed.withColumn("rank", F.row_number().over(newest)).localCheckpoint()
        rows.groupBy("k").count().collect()
        rows.drop("variant").toArrow()
        (
            DeltaTable.createIfNotExists(spark)
            .location(table)
            .addColumns(rows.drop("variant").schema)
            .property("delta.enableChangeDataFeed", "true")
            .execute()
        )
        fresh = rows.drop("variant")
        fresh.write.format("delta").mode("append").option("txnAppId", "a").option(
            "txnVersion", 0
        ).save(table)
        target_table = DeltaTable.forPath(spark, table).alias("t")
        target_table.merge(fresh.where("rank = 1").alias("s"), "t.k <=> s.k").whenMatchedUpdateAll(
            "s.event_id <> t.event_id"
        ).whenNotMatchedInsertAll().whenNotMatchedBySourceDelete(F.col("t.k") < 0).execute()
        changes = spark.readStream.format("delta").option("readChangeFeed", "true").load(table)
        query = (
            changes.writeStream.foreachBatch(lambda batch, _id: batch.count())
            .option("checkpointLocation", f"{folder}/checkpoint")
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
        spark.read.format("delta").load(table).join(fresh, "k").count()
        spark.readStream.format("kafka").option("kafka.bootstrap.servers", "127.0.0.1:9").option(
            "subscribe", "t"
        ).load()  # resolves the Kafka source without reaching a broker
        _touch_s3a_and_kafka(spark)
    gateway = spark.sparkContext._gateway
    spark.stop()
    # the JVM writes the archive as it exits, which it does when its stdin closes
    process = getattr(gateway, "proc", None)
    if process is not None:
        process.stdin.close()
        process.wait(timeout=300)


def _touch_s3a_and_kafka(spark: SparkSession) -> None:
    """One request each to an S3 endpoint and a Kafka broker where nothing listens: their
    clients' classes (the AWS SDK's, Kafka's consumer) load, and the refusals are expected."""
    jvm = spark.sparkContext._jvm
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in {
        "fs.s3a.endpoint": "http://127.0.0.1:9",
        "fs.s3a.path.style.access": "true",
        "fs.s3a.access.key": "class-archive",
        "fs.s3a.secret.key": "class-archive",
        "fs.s3a.attempts.maximum": "1",
        "fs.s3a.retry.limit": "0",
        "fs.s3a.connection.establish.timeout": "1s",
    }.items():
        hadoop.set(key, value)
    path = jvm.org.apache.hadoop.fs.Path("s3a://class-archive/table")
    try:
        path.getFileSystem(hadoop).exists(path)
    except Exception:  # nothing listens there
        log.debug("the S3 request was refused, as expected")
    properties = jvm.java.util.Properties()
    for key, value in {
        "bootstrap.servers": "127.0.0.1:9",
        "key.deserializer": "org.apache.kafka.common.serialization.ByteArrayDeserializer",
        "value.deserializer": "org.apache.kafka.common.serialization.ByteArrayDeserializer",
    }.items():
        properties.setProperty(key, value)
    consumer = jvm.org.apache.kafka.clients.consumer.KafkaConsumer(properties)
    try:
        consumer.listTopics(jvm.java.time.Duration.ofMillis(500))
    except Exception:  # nothing listens there
        log.debug("the Kafka request timed out, as expected")
    finally:
        consumer.close(jvm.java.time.Duration.ofMillis(100))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    if len(sys.argv) != 2:
        sys.exit("usage: python -m lakehouse.install.class_archive TARGET")
    spark_jar_paths(get_settings())  # SetupError when the jars are missing
    train(Path(sys.argv[1]))
