"""The Spark session factory: Delta, S3A pointed at the configured endpoint, the resolved jars.

Run from Python, the factory launches the JVM with every setting. Under ``spark-submit`` the JVM
already runs with the properties file (``--properties-file spark-defaults.conf``): then master,
jars and driver memory come from there and the factory adds only runtime settings and secrets.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse.environment import secrets_hidden
from lakehouse.errors import SetupError
from lakehouse.install.class_archive import driver_class_path, java_options
from lakehouse.install.jars import spark_jar_paths
from lakehouse.settings import (
    ENV_PREFIX,
    Secrets,
    Settings,
    get_settings,
    load_secrets,
    project_root,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

# Settings that only take effect when the JVM is launched.
LAUNCH_KEYS = (
    "spark.master",
    "spark.jars",
    "spark.driver.extraClassPath",
    "spark.driver.extraJavaOptions",
    "spark.driver.memory",
    "spark.executor.cores",
    "spark.executor.memory",
    "spark.cores.max",
    "spark.pyspark.python",
    "spark.driver.host",
    "spark.driver.bindAddress",
)


# Bounded S3 failures: an unreachable S3 server is retried with exponential backoff for about
# a minute (7 retries from 500 ms; a 30 s outage is ridden out), each request by the AWS SDK
# at most 3 times; a connection must open within 15 s (S3A's minimum) and a silent one fails
# after 30 s (the defaults, 200 s and 5 SDK attempts per retry, would keep a hung server's
# requests waiting for hours). Past that the query fails with the S3 error and a supervisor
# restarts the application.
S3A_RETRIES = {
    "spark.hadoop.fs.s3a.retry.limit": "7",
    "spark.hadoop.fs.s3a.retry.interval": "500ms",
    "spark.hadoop.fs.s3a.attempts.maximum": "3",
    "spark.hadoop.fs.s3a.connection.establish.timeout": "15s",
    "spark.hadoop.fs.s3a.connection.timeout": "30s",
}


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
        **S3A_RETRIES,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        "spark.ui.enabled": str(settings.spark.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        # Delta rebuilds table state with this many tasks (default 50: slow on small tables).
        "spark.databricks.delta.snapshotPartitions": str(settings.spark.delta_snapshot_partitions),
        "spark.sql.streaming.stateStore.providerClass": (
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
        ),
        # A driver killed while a query writes its first offsets leaves S3A's temporary file
        # (rename on S3 = copy + delete) in a checkpoint that holds no batch yet; Spark's check
        # that such a checkpoint is empty would then refuse every restart. Each query has a
        # checkpoint of its own (lakehouse.registry), which is what the check protects.
        "spark.sql.streaming.verifyCheckpointDirectoryEmptyOnStart": "false",
    }


def is_local(master: str) -> bool:
    """True for ``local``, ``local[N]``, ``local[*]``: driver and executor in one JVM."""
    return master.startswith("local")


def launch_conf(settings: Settings) -> dict[str, str]:
    """Settings applied only when the JVM is launched (by this process or by spark-submit).

    In local mode the jars go on the driver's classpath as they are; ``spark.jars`` would copy
    all of them (the AWS SDK bundle alone is 686 MB) into every session's temp folder. On a
    cluster ``spark.jars`` ships them to the executors, which are sized from the settings, and
    ``spark.pyspark.python`` names the interpreter their Python workers run (the masking UDFs
    need its pandas and pyarrow, and the project's modules). A local driver maps the class
    archive setup wrote (``lakehouse.install.class_archive``) when there is one.
    """
    spark = settings.spark
    conf = {"spark.master": spark.master, "spark.driver.memory": spark.driver_memory}
    if is_local(spark.master):
        conf["spark.driver.extraClassPath"] = driver_class_path(settings)
        archive = java_options(settings)  # the driver's classes mapped, not loaded one by one
        if archive:
            conf["spark.driver.extraJavaOptions"] = archive
    else:
        conf.update(
            {
                "spark.jars": ",".join(str(p) for p in spark_jar_paths(settings)),
                "spark.executor.cores": str(spark.executor_cores),
                "spark.executor.memory": spark.executor_memory,
                "spark.cores.max": str(spark.cores_max),
                "spark.pyspark.python": sys.executable,
            }
        )
        if loopback_master(spark.master):  # executors on this machine: keep the driver there too
            conf["spark.driver.host"] = conf["spark.driver.bindAddress"] = "127.0.0.1"
    return conf


def loopback_master(master: str) -> bool:
    """True for a ``spark://`` master on the loopback interface (one or several addresses)."""
    if not master.startswith("spark://"):
        return False
    hosts = [part.rsplit(":", 1)[0] for part in master.removeprefix("spark://").split(",")]
    return all(host in {"127.0.0.1", "localhost"} for host in hosts)


def spark_home() -> Path:
    """The pyspark package folder: a whole Spark distribution (``bin/``, ``jars/``), whose
    ``spark-submit`` and ``spark-class`` the project runs."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise SetupError("pyspark is not installed in this Python: run scripts/bootstrap")
    home = Path(next(iter(spec.submodule_search_locations)))
    if not (home / "bin" / "spark-submit").is_file():
        raise SetupError(f"{home} has no bin/spark-submit: not a pyspark distribution")
    return home


LAUNCHER = """\
# Written by lakehouse (lakehouse/spark.py): the primary resource of `spark-submit` for the
# module {module}, run as a module so that imports resolve as they do under `python -m`.
import runpy

runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
"""


def submit_launcher(settings: Settings, module: str) -> Path:
    """A one-line Python file that runs ``module`` as ``__main__``, in a folder of its own
    under the home (``build/spark-submit``), for ``spark-submit`` to run."""
    folder = settings.home / "build" / "spark-submit"
    folder.mkdir(parents=True, exist_ok=True)
    launcher = folder / f"{module.replace('.', '_')}.py"
    text = LAUNCHER.format(module=module)
    if not launcher.is_file() or launcher.read_text() != text:
        launcher.write_text(text)
    return launcher


def submit_command(
    settings: Settings, module: str, app_args: Sequence[str] = (), master: str | None = None
) -> tuple[list[str], dict[str, str]]:
    """``spark-submit`` of the Python module ``module`` (e.g. ``streaming.app``) and the
    environment to add for it: the committed ``spark-defaults.conf``, then the launch settings
    for ``master`` (default: ``spark.master`` from the settings) on top, so that jars, executors
    and the Python interpreter suit the master. Run it from the project root: the properties
    file names the jar folder by a relative path."""
    master = master or settings.spark.master
    settings = settings.model_copy(
        update={"spark": settings.spark.model_copy(update={"master": master})}
    )
    home = spark_home()
    argv = [str(home / "bin" / "spark-submit"), "--master", master]
    properties = project_root() / "spark-defaults.conf"
    if properties.is_file():
        argv += ["--properties-file", str(properties)]
    for key, value in launch_conf(settings).items():
        if key != "spark.master":
            argv += ["--conf", f"{key}={value}"]
    argv += [str(submit_launcher(settings, module)), *app_args]
    python_path = [str(project_root()), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {
        "SPARK_HOME": str(home),
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join(python_path),
        f"{ENV_PREFIX}SPARK__MASTER": master,
    }
    return argv, env


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
    with secrets_hidden():  # the JVM (and its Python workers) copy the environment
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
