"""``lakehouse cluster up | down | status``: a Spark standalone master and one worker on this
machine, run from the pyspark distribution in the virtualenv (``pyspark/bin/spark-class``).

Both are background processes like the stack's services (pid file in ``run/``, log in
``logs/``, state under ``services/spark``), bound to the configured host (127.0.0.1), web UIs
included. They are not part of ``stack up`` (the local pipeline runs in ``local[*]``);
``stack down`` stops them. The master counts as ready when its web UI's ``/json`` answers
``ALIVE``, the worker when the master lists it as ``ALIVE``.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehouse.install.toolchain import java_binary
from lakehouse.settings import Settings
from lakehouse.spark import spark_home
from lakehouse.stack.process import ManagedProcess, check_ports_free, port_accepts

log = logging.getLogger(__name__)

START_DEADLINE_S = 90.0
MASTER = "spark-master"
WORKER = "spark-worker"
# Settings of the master and the worker themselves (applications bring their own).
DAEMON_PROPERTIES = {
    # The worker keeps each application's folder (executor logs, copies of its jars); remove
    # those of finished applications after a day, checking every 30 minutes.
    "spark.worker.cleanup.enabled": "true",
    "spark.worker.cleanup.interval": "1800",
    "spark.worker.cleanup.appDataTtl": "86400",
    "spark.master.rest.enabled": "false",
}


def fetch_json(url: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """The JSON document at ``url`` (a web UI's ``/json``), or None if nothing answers.
    Proxies from the environment are bypassed: the daemons are on this machine."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_s) as response:
            document = json.load(response)
    except (OSError, ValueError, http.client.HTTPException):
        return None
    return document if isinstance(document, dict) else None


def master_state(settings: Settings, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """The master's state (``status``, ``workers``, ``activeapps``, ``completedapps``) from
    its web UI, or None when it does not answer."""
    return fetch_json(f"{settings.spark_cluster.web_ui}/json", timeout_s)


def worker_state(settings: Settings, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """The worker's state (``executors``, ``finishedexecutors``) from its web UI, or None."""
    cluster = settings.spark_cluster
    return fetch_json(f"http://{cluster.host}:{cluster.worker_web_ui_port}/json", timeout_s)


def alive_workers(state: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The workers the master lists as ALIVE."""
    return [w for w in (state or {}).get("workers", []) if w.get("state") == "ALIVE"]


def _java_home() -> str:
    """``$JAVA_HOME``, else the JDK folder of the checked ``java`` on PATH."""
    java = java_binary()
    return os.environ.get("JAVA_HOME") or str(Path(os.path.realpath(java)).parent.parent)


@dataclass(frozen=True)
class Daemon:
    """The master or the worker: its process, ports, command line and readiness probe."""

    name: str
    process: ManagedProcess
    ports: tuple[int, ...]
    argv: tuple[str, ...]
    address: str
    web_ui: str


@dataclass(frozen=True)
class DaemonStatus:
    name: str
    state: str  # running | stopped
    pid: int | None
    address: str
    web_ui: str


class SparkCluster:
    """The master and the worker of one home (``base``: another folder keeps a second cluster
    apart, on other ports)."""

    def __init__(self, settings: Settings, base: Path | None = None) -> None:
        self.settings = settings
        self.cluster = settings.spark_cluster
        self.base = base or settings.home
        self.root = self.base / "services" / "spark"

    @property
    def work_dir(self) -> Path:
        """The worker's folder per application and executor: logs, fetched jars and files."""
        return self.root / "work"

    @property
    def local_dir(self) -> Path:
        """Executors' scratch space (shuffle, fetch cache), removed per finished application."""
        return self.root / "local"

    @property
    def properties_file(self) -> Path:
        return self.root / "spark-daemons.conf"

    def _process(self, name: str) -> ManagedProcess:
        return ManagedProcess(
            name=name,
            pid_file=self.base / "run" / f"{name}.pid",
            log_file=self.base / "logs" / f"{name}.log",
            marker=str(self.properties_file),
        )

    def daemons(self) -> list[Daemon]:
        """The master, then the worker (start order)."""
        c = self.cluster
        spark_class = str(spark_home() / "bin" / "spark-class")
        properties = ("--properties-file", str(self.properties_file))
        master = Daemon(
            name=MASTER,
            process=self._process(MASTER),
            ports=(c.port, c.web_ui_port),
            argv=(
                spark_class, "org.apache.spark.deploy.master.Master",
                "--host", c.host, "--port", str(c.port), "--webui-port", str(c.web_ui_port),
                *properties,
            ),
            address=c.master_url,
            web_ui=c.web_ui,
        )  # fmt: skip
        worker = Daemon(
            name=WORKER,
            process=self._process(WORKER),
            ports=(c.worker_port, c.worker_web_ui_port),
            argv=(
                spark_class, "org.apache.spark.deploy.worker.Worker",
                "--host", c.host, "--port", str(c.worker_port),
                "--webui-port", str(c.worker_web_ui_port),
                "--cores", str(c.worker_cores), "--memory", c.worker_memory,
                "--work-dir", str(self.work_dir), *properties, c.master_url,
            ),
            address=f"{c.host}:{c.worker_port}, {c.worker_cores} cores, {c.worker_memory}",
            web_ui=f"http://{c.host}:{c.worker_web_ui_port}",
        )  # fmt: skip
        return [master, worker]

    def env(self) -> dict[str, str]:
        return {
            "SPARK_HOME": str(spark_home()),
            "JAVA_HOME": _java_home(),
            # Binds the RPC endpoints and the web UIs (else 0.0.0.0) to the configured host.
            "SPARK_LOCAL_IP": self.cluster.host,
            "SPARK_DAEMON_MEMORY": self.cluster.daemon_memory,
            "SPARK_LOCAL_DIRS": str(self.local_dir),
        }

    def probe(self, daemon: Daemon) -> bool:
        """Master: its /json answers ALIVE. Worker: the master lists it as ALIVE."""
        if not port_accepts(self.cluster.host, self.cluster.web_ui_port):
            return False
        state = master_state(self.settings)
        if state is None or state.get("status") != "ALIVE":
            return False
        if daemon.name == MASTER:
            return True
        return any(
            w.get("host") == self.cluster.host and w.get("port") == self.cluster.worker_port
            for w in alive_workers(state)
        )

    def _prepare(self) -> None:
        for folder in (self.work_dir, self.local_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.properties_file.write_text(
            "# Written by `lakehouse cluster up`: settings of the master and the worker.\n"
            + "".join(f"{key} {value}\n" for key, value in DAEMON_PROPERTIES.items())
        )

    def up(self) -> list[str]:
        """Start the master and the worker if they are not running, then wait until the worker
        is registered; if one fails, stop what this call started. Returns the names started."""
        daemons = self.daemons()
        pids = {d.name: d.process.pid() for d in daemons}
        to_start = [d for d in daemons if pids[d.name] is None]
        for daemon in to_start:  # fail on a taken port before anything starts
            check_ports_free(daemon.name, self.cluster.host, daemon.ports)
        self._prepare()
        if pids[WORKER] is None:
            self.drop_jar_copies()
        started: list[Daemon] = []
        try:
            for daemon in daemons:
                pid = pids[daemon.name]
                if pid is None:
                    pid = daemon.process.start(daemon.argv, self.env())
                    started.append(daemon)
                daemon.process.wait_ready(pid, lambda d=daemon: self.probe(d), START_DEADLINE_S)
                log.info("%s ready at %s (pid %d)", daemon.name, daemon.address, pid)
        except BaseException:
            for daemon in reversed(started):
                daemon.process.stop()
            raise
        return [d.name for d in started]

    def down(self) -> list[str]:
        """Stop the worker (and its executors), then the master; returns the names stopped."""
        stopped = [d.name for d in reversed(self.daemons()) if d.process.stop()]
        if stopped:
            self.drop_jar_copies()
        return stopped

    def status(self) -> list[DaemonStatus]:
        rows = []
        for daemon in self.daemons():
            pid = daemon.process.pid()
            state = "running" if pid else "stopped"
            rows.append(DaemonStatus(daemon.name, state, pid, daemon.address, daemon.web_ui))
        return rows

    def drop_jar_copies(self) -> int:
        """Remove the jars executors fetched into the work folder (each application gets a
        copy of ``spark.jars``, ~700 MB); the executors' logs stay. Returns the files removed."""
        removed = 0
        for jar in self.work_dir.glob("app-*/*/*.jar"):
            jar.unlink(missing_ok=True)
            removed += 1
        for cache in self.local_dir.glob("spark-*"):  # an executor killed before its cleanup
            shutil.rmtree(cache, ignore_errors=True)
        return removed


def up(settings: Settings, base: Path | None = None) -> list[str]:
    return SparkCluster(settings, base).up()


def down(settings: Settings, base: Path | None = None) -> list[str]:
    return SparkCluster(settings, base).down()


def status(settings: Settings, base: Path | None = None) -> list[DaemonStatus]:
    return SparkCluster(settings, base).status()
