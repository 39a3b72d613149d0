"""The Spark session factory: Delta, S3A pointed at the configured endpoint, the resolved jars.

Run from Python, the factory launches the JVM with every setting. Under ``spark-submit`` the JVM
already runs with the properties file (``--properties-file spark-defaults.conf``): then master,
jars and driver memory come from there and the factory adds only runtime settings and secrets.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from lakehouse.install.jars import spark_jar_paths
from lakehouse.settings import Secrets, Settings, get_settings, load_secrets

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

# Settings that only take effect when the JVM is launched.
LAUNCH_KEYS = ("spark.master", "spark.jars", "spark.driver.extraClassPath", "spark.driver.memory")


def runtime_conf(settings: Settings) -> dict[str, str]:
    """Spark settings without secrets: Delta, S3A, session defaults."""
    s3 = settings.s3
    return {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": s3.url,
        "spark.hadoop.fs.s3a.endpoint.region": s3.region,
        "spark.hadoop.fs.s3a.path.style.access": str(s3.path_style).lower(),
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(s3.secure).lower(),
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        ),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        "spark.ui.enabled": str(settings.spark.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        # Delta rebuilds table state with this many tasks (default 50: slow on small tables).
        "spark.databricks.delta.snapshotPartitions": str(settings.spark.delta_snapshot_partitions),
        "spark.sql.streaming.stateStore.providerClass": (
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
        ),
    }


def launch_conf(settings: Settings) -> dict[str, str]:
    """Settings applied only when this process launches the JVM itself.

    In local mode the jars go on the driver's classpath as they are; ``spark.jars`` would copy
    all of them (the AWS SDK bundle alone is 686 MB) into every session's temp folder. On a
    cluster ``spark.jars`` ships them to the executors.
    """
    jars = [str(p) for p in spark_jar_paths(settings)]
    conf = {
        "spark.master": settings.spark.master,
        "spark.driver.memory": settings.spark.driver_memory,
    }
    if settings.spark.master.startswith("local"):
        conf["spark.driver.extraClassPath"] = os.pathsep.join(jars)
    else:
        conf["spark.jars"] = ",".join(jars)
    return conf


def secret_hadoop_conf(secrets: Secrets) -> dict[str, str]:
    """S3A credentials, set on the running session's Hadoop configuration: passed as launch
    settings they would appear on the JVM's command line, which any local user can list."""
    return {
        "fs.s3a.access.key": secrets.require("s3_access_key"),
        "fs.s3a.secret.key": secrets.require("s3_secret_key"),
    }


def under_spark_submit() -> bool:
    """True when ``spark-submit`` started this Python process (the JVM is already up)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def build_spark_session(
    app_name: str,
    settings: Settings | None = None,
    secrets: Secrets | None = None,
    extra_conf: dict[str, str] | None = None,
) -> SparkSession:
    """A SparkSession configured for the lake; reuses the active one if there is one."""
    from pyspark.sql import SparkSession

    settings = settings or get_settings()
    secrets = secrets or load_secrets(settings)
    # Spark's Python workers must run this interpreter (it has pandas and pyarrow for the
    # vectorised UDFs), not whatever `python3` is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = runtime_conf(settings)
    if not under_spark_submit():
        conf.update(launch_conf(settings))
    conf.update(extra_conf or {})
    builder = SparkSession.builder.appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    for key, value in secret_hadoop_conf(secrets).items():
        hadoop_conf.set(key, value)
    spark.sparkContext.setLogLevel(settings.spark.log_level)
    log.info("spark session %s on %s", app_name, spark.sparkContext.master)
    return spark


def trigger_options(spec: str) -> dict[str, object]:
    """Keyword arguments for ``DataStreamWriter.trigger`` from a settings string:
    ``availableNow`` (drain and stop) or ``processingTime=<interval>`` (run as a service)."""
    if spec == "availableNow":
        return {"availableNow": True}
    if spec.startswith("processingTime="):
        return {"processingTime": spec.split("=", 1)[1]}
    raise ValueError(f"unknown trigger {spec!r}: use availableNow or processingTime=<interval>")
