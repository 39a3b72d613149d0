"""The Spark standalone cluster (`lakehouse cluster`) and submitting to it: command lines,
readiness from the master's /json, a taken port, the launch settings for a cluster master."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lakehouse.cli import build_parser
from lakehouse.demo import DemoError, check_master
from lakehouse.errors import PortInUseError
from lakehouse.settings import Secrets, Settings
from lakehouse.spark import launch_conf, submit_command, submit_launcher
from lakehouse.stack import control, spark_cluster
from lakehouse.stack.spark_cluster import MASTER, WORKER, SparkCluster

JARS = ("bundle-2.35.4.jar", "delta-spark_4.2_2.13-4.4.0.jar", "hadoop-aws-3.5.0.jar")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A home with the Spark jars in place and cluster ports nobody uses."""
    home = tmp_path / "home"
    jars = home / "jars" / "spark"
    jars.mkdir(parents=True)
    for name in JARS:
        (jars / name).write_bytes(b"")
    ports = {
        "port": _free_port(),
        "web_ui_port": _free_port(),
        "worker_port": _free_port(),
        "worker_web_ui_port": _free_port(),
    }
    return Settings(home=home, spark_cluster=ports)


class FakeMaster:
    """Serves ``state`` as the master's web UI /json."""

    def __init__(self, port: int) -> None:
        self.state: dict[str, Any] = {"status": "STANDBY", "workers": []}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(owner.state).encode()
                self.send_response(200 if self.path == "/json" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeMaster:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_master(settings: Settings) -> Iterator[FakeMaster]:
    with FakeMaster(settings.spark_cluster.web_ui_port) as master:
        yield master


def test_cluster_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = Settings().spark_cluster
    assert cluster.master_url == "spark://127.0.0.1:7077"
    assert cluster.web_ui == "http://127.0.0.1:8080"
    taken = {9092, 9093, 7070, 5433}  # Kafka, its controller, S3, PostgreSQL
    ports = {cluster.port, cluster.web_ui_port, cluster.worker_port, cluster.worker_web_ui_port}
    assert len(ports) == 4 and not ports & taken
    monkeypatch.setenv("LAKEHOUSE_SPARK_CLUSTER__PORT", "17077")
    monkeypatch.setenv("LAKEHOUSE_SPARK_CLUSTER__WORKER_MEMORY", "6g")
    cluster = Settings().spark_cluster
    assert cluster.master_url == "spark://127.0.0.1:17077" and cluster.worker_memory == "6g"


def test_daemons_run_spark_class_bound_to_the_host(settings: Settings) -> None:
    cluster = SparkCluster(settings)
    master, worker = cluster.daemons()
    c = settings.spark_cluster
    assert (master.name, worker.name) == (MASTER, WORKER)
    assert master.argv[0].endswith("pyspark/bin/spark-class")
    assert master.argv[1] == "org.apache.spark.deploy.master.Master"
    assert ["--host", "127.0.0.1", "--port", str(c.port)] == list(master.argv[2:6])
    assert worker.argv[1] == "org.apache.spark.deploy.worker.Worker"
    assert worker.argv[-1] == c.master_url
    assert {"--cores", "2", "--memory", "4g", "--work-dir", str(cluster.work_dir)} <= set(
        worker.argv
    )
    for daemon in (master, worker):  # the marker that proves a pid is ours
        assert str(cluster.properties_file) in daemon.argv
        assert daemon.process.marker == str(cluster.properties_file)
        assert daemon.process.pid_file == settings.home / "run" / f"{daemon.name}.pid"
        assert daemon.process.log_file == settings.home / "logs" / f"{daemon.name}.log"
    assert master.ports == (c.port, c.web_ui_port)
    assert worker.ports == (c.worker_port, c.worker_web_ui_port)
    env = cluster.env()
    assert env["SPARK_LOCAL_IP"] == "127.0.0.1"  # the web UIs too (else 0.0.0.0)
    assert Path(env["SPARK_HOME"], "bin", "spark-class").is_file()
    assert env["SPARK_LOCAL_DIRS"] == str(cluster.local_dir)


def test_readiness_comes_from_the_masters_json(settings: Settings, fake_master: FakeMaster) -> None:
    cluster = SparkCluster(settings)
    master, worker = cluster.daemons()
    assert not cluster.probe(master)
    fake_master.state = {"status": "ALIVE", "workers": []}
    assert cluster.probe(master) and not cluster.probe(worker)
    listed = {"host": "127.0.0.1", "port": settings.spark_cluster.worker_port}
    fake_master.state["workers"] = [{**listed, "state": "DEAD"}]
    assert not cluster.probe(worker)
    fake_master.state["workers"].append({**listed, "state": "ALIVE"})
    assert cluster.probe(worker)
    assert spark_cluster.alive_workers(spark_cluster.master_state(settings)) == [
        {**listed, "state": "ALIVE"}
    ]


def test_nothing_answering_is_no_state(settings: Settings) -> None:
    assert spark_cluster.master_state(settings, timeout_s=0.5) is None
    assert spark_cluster.worker_state(settings, timeout_s=0.5) is None


def test_a_taken_port_is_named_before_anything_starts(settings: Settings) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", settings.spark_cluster.web_ui_port))
        sock.listen()
        with pytest.raises(PortInUseError, match=rf"spark-master.*port {sock.getsockname()[1]}"):
            spark_cluster.up(settings)
    assert not (settings.home / "run" / f"{MASTER}.pid").exists()
    assert spark_cluster.status(settings)[0].state == "stopped"


def test_down_with_nothing_running(settings: Settings) -> None:
    assert spark_cluster.down(settings) == []
    # `stack down` includes the cluster; here nothing of this home runs
    assert control.down(settings, Secrets(), base=settings.home) == []


def test_jar_copies_are_dropped_and_logs_kept(settings: Settings) -> None:
    cluster = SparkCluster(settings)
    executor = cluster.work_dir / "app-20260101000000-0000" / "0"
    executor.mkdir(parents=True)
    (executor / "bundle-2.35.4.jar").write_bytes(b"jar")
    (executor / "stderr").write_text("Finished task 0.0")
    (cluster.local_dir / "spark-1234").mkdir(parents=True)
    assert cluster.drop_jar_copies() == 1
    assert [p.name for p in executor.iterdir()] == ["stderr"]
    assert not (cluster.local_dir / "spark-1234").exists()


def test_launch_settings_for_a_cluster_ship_the_jars(settings: Settings) -> None:
    local = launch_conf(settings)
    assert local["spark.master"] == "local[*]" and "spark.jars" not in local
    assert local["spark.driver.extraClassPath"].count(".jar") == len(JARS)
    spark = settings.spark.model_copy(update={"master": "spark://127.0.0.1:7077"})
    conf = launch_conf(settings.model_copy(update={"spark": spark}))
    assert "spark.driver.extraClassPath" not in conf
    assert sorted(Path(j).name for j in conf["spark.jars"].split(",")) == sorted(JARS)
    assert (conf["spark.executor.cores"], conf["spark.executor.memory"]) == ("2", "2g")
    assert conf["spark.cores.max"] == "2"
    assert conf["spark.pyspark.python"] == sys.executable
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"  # the master is on the loopback
    remote = spark.model_copy(update={"master": "spark://m1:7077,m2:7077"})
    assert "spark.driver.host" not in launch_conf(settings.model_copy(update={"spark": remote}))


def test_submit_command_goes_through_spark_submit(settings: Settings) -> None:
    master = "spark://127.0.0.1:7077"
    argv, env = submit_command(settings, "streaming.app", ["--trigger", "availableNow"], master)
    assert argv[0].endswith("pyspark/bin/spark-submit")
    assert argv[1:3] == ["--master", master]
    assert argv[argv.index("--properties-file") + 1].endswith("spark-defaults.conf")
    confs = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--conf")
    assert "spark.master" not in confs and len(confs["spark.jars"].split(",")) == len(JARS)
    assert confs["spark.pyspark.python"] == sys.executable
    assert argv[-3:] == [
        str(submit_launcher(settings, "streaming.app")),
        "--trigger",
        "availableNow",
    ]
    assert env["PYSPARK_PYTHON"] == env["PYSPARK_DRIVER_PYTHON"] == sys.executable
    assert env["LAKEHOUSE_SPARK__MASTER"] == master


def test_launcher_runs_the_module_as_main_with_its_arguments(
    settings: Settings, tmp_path: Path
) -> None:
    package = tmp_path / "pkg" / "demo_app"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "warehouse.py").write_text("")  # a sibling that would hide a package
    (package / "main.py").write_text(
        "import sys\nif __name__ == '__main__':\n    print('ran', sys.argv[1:])\n"
    )
    launcher = submit_launcher(settings, "demo_app.main")
    assert launcher.parent == settings.home / "build" / "spark-submit"
    out = subprocess.run(
        [sys.executable, str(launcher), "--trigger", "availableNow"],
        env={**os.environ, "PYTHONPATH": str(tmp_path / "pkg")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "ran ['--trigger', 'availableNow']"


def test_demo_fails_early_without_a_master() -> None:
    check_master("local[*]")
    with pytest.raises(DemoError, match="lakehouse cluster up"):
        check_master(f"spark://127.0.0.1:{_free_port()}")


def test_command_line() -> None:
    parser = build_parser()
    assert parser.parse_args(["cluster", "status"]).action == "status"
    args = parser.parse_args(["demo", "--orders", "10", "--master", "spark://h:7077"])
    assert (args.orders, args.master) == (10, "spark://h:7077")
    args = parser.parse_args(["stream", "--master", "spark://h:7077", "--trigger", "availableNow"])
    assert args.master == "spark://h:7077" and not args.supervise
    with pytest.raises(SystemExit):
        parser.parse_args(["cluster", "restart"])
