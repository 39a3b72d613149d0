"""The main job, as a newcomer runs it (`lakehouse demo`), in a namespace of its own, with the
streaming application submitted to a Spark standalone cluster on this machine (`lakehouse
cluster`); then its HTML report rendered in headless Chromium (Debian's package): every chart
has data. Local mode (`local[*]`) is covered by the integration tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from lakehouse.demo import report_path, sample_dir
from lakehouse.postgres import connect
from lakehouse.settings import Secrets, Settings
from lakehouse.stack import spark_cluster
from producers.synthetic import MANIFEST, Manifest
from streaming.app import APP_NAME

CHARTS = (
    "gmv-by-state",
    "gmv-by-category",
    "gmv-real-vs-nominal",
    "sales-vs-rain",
    "pipeline-health",
    "quarantine-reasons",
)
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=15000",
)  # fmt: skip


def render_dom(html_file: Path, profile: Path) -> str:
    """The report's DOM after its scripts ran, as headless Chromium sees it."""
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed (make test installs it)"
    result = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", html_file.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def cluster(settings: Settings) -> Iterator[spark_cluster.SparkCluster]:
    """A Spark standalone master and worker (`lakehouse cluster up`), stopped afterwards
    unless they were already running."""
    started = spark_cluster.up(settings)
    yield spark_cluster.SparkCluster(settings)
    if started:
        spark_cluster.down(settings)


def assert_ran_on_cluster(cluster: spark_cluster.SparkCluster, since_ms: int) -> str:
    """The master lists the streaming application as finished, the worker lists its executor,
    and that executor's log shows the tasks it ran, the masking UDFs (Arrow, Python workers)
    among them; returns the application's id."""
    state = spark_cluster.master_state(cluster.settings)
    assert state is not None, "the Spark master's /json does not answer"
    apps = [
        app
        for app in state["completedapps"]
        if app["name"] == APP_NAME and app["starttime"] >= since_ms
    ]
    assert len(apps) == 1, state["completedapps"]
    app = apps[0]
    assert app["state"] == "FINISHED", app
    worker = spark_cluster.worker_state(cluster.settings)
    assert worker is not None, "the Spark worker's /json does not answer"
    executors = [e for e in worker["finishedexecutors"] if e["appid"] == app["id"]]
    assert executors, worker["finishedexecutors"]
    stderr = cluster.work_dir / app["id"] / str(executors[0]["id"]) / "stderr"
    log = stderr.read_text(errors="replace")
    assert "Finished task" in log, f"no task ran on the executor (see {stderr})"
    assert re.search(r"ArrowEvalPython.*Starting Python task", log), f"no Python UDF in {stderr}"
    return str(app["id"])


def test_main_job_runs_the_pipeline_and_reports(
    ns_settings: Settings,
    secrets: Secrets,
    tmp_path: Path,
    cluster: spark_cluster.SparkCluster,
) -> None:
    env = {**os.environ, "LAKEHOUSE_NAMESPACE": ns_settings.namespace}
    lakehouse = Path(sys.executable).parent / "lakehouse"
    master = cluster.cluster.master_url
    since_ms = int(time.time() * 1000)
    try:
        result = subprocess.run(
            [str(lakehouse), "demo", "--orders", "150", "--master", master],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
            env=env,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        out = result.stdout
        assert_ran_on_cluster(cluster, since_ms)
        manifest = Manifest.load(sample_dir(ns_settings) / "olist" / MANIFEST)

        assert "lakehouse demo summary" in out
        assert re.search(r"dw\.fct_order\s*│\s*│\s*150 │", out), out
        assert re.search(r"77 expectations, 77 passed, 0 critical failed", out), out
        assert out.count(" promoted: version") == 3, out
        # the top 5 states by GMV are the generator's, with its totals
        top = sorted(manifest.gmv_by_state.items(), key=lambda kv: -Decimal(kv[1]))[:5]
        for state, gmv in top:
            assert re.search(rf"│ {state}\s*│\s*\d+ │\s*{Decimal(gmv):,.2f} │", out), (state, out)
        dead = int(re.search(r"dead-lettered records\s*: ([\d,]+)", out).group(1))
        assert dead == len(manifest.bad_rows)
        quarantined = int(re.search(r"quarantined records\s*: ([\d,]+)", out).group(1))
        assert quarantined > 0  # the sample's impossible weather readings
        assert re.search(r"freshness \(last record sent -> warehouse load\): [\d.]+ s", out)

        with connect(ns_settings, secrets, role="reader") as conn:
            orders = conn.execute("SELECT count(*) FROM dashboard.order_sales").fetchone()[0]
        assert orders == manifest.orders

        report = report_path(ns_settings)
        assert f"file://{report}" in out
        dom = render_dom(report, tmp_path / "chromium")
        points = dict(re.findall(r'<section class="chart" id="([a-z-]+)" data-points="(\d+)"', dom))
        assert set(points) == set(CHARTS), points
        assert all(int(n) > 0 for n in points.values()), points
        assert dom.count('class="main-svg"') >= len(CHARTS)
    finally:
        shutil.rmtree(sample_dir(ns_settings), ignore_errors=True)
        report_path(ns_settings).unlink(missing_ok=True)
