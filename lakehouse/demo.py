"""``lakehouse demo``: the main job, the whole pipeline on the bundled sample.

Installs what is missing and starts the stack; writes the sample Olist files (synthetic, same
format as the public set); replays them with the Olist producer and sends the bundled IPCA /
Selic answers and the sample weather; runs the streaming application until every query has
drained (ingest into bronze and silver, gold, the warehouse load); runs the quality gates and
promotes gold; prints a summary and writes an HTML report. The stack stays up for exploration.

A rerun sends nothing already sent (the producer's ledger, a marker for the macro and weather
records), so it only re-checks, re-summarises and re-draws the report.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from lakehouse.demo_summary import Summary, gather_summary, print_summary
from lakehouse.errors import LakehouseError
from lakehouse.install.setup import run_setup
from lakehouse.postgres import connect
from lakehouse.settings import Secrets, Settings, load_secrets
from lakehouse.stack import control

log = logging.getLogger(__name__)

T = TypeVar("T")
STREAM_QUERIES = ("ingest", "gold")
STREAM_DEADLINE_S = 1800.0


class DemoError(LakehouseError):
    """A step of the main job failed."""


def sample_dir(settings: Settings) -> Path:
    """Where the main job keeps its sample files and what it has sent (per namespace)."""
    return settings.home / "sample" / (settings.namespace or "default")


def report_path(settings: Settings) -> Path:
    return (
        settings.home
        / "reports"
        / f"lakehouse-report{'-' + settings.namespace if settings.namespace else ''}.html"
    )


class Steps:
    """Times each step and shows it on the console."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.console.print(f"[bold]>[/bold] {name}")
        began = time.monotonic()
        yield
        self.timings[name] = time.monotonic() - began
        self.console.print(f"  [green]done[/green] in {self.timings[name]:.1f} s")


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _in_thread(work: Callable[[], T], tick: Callable[[], None], every_s: float = 0.25) -> T:
    """Run ``work`` in a thread, calling ``tick`` until it ends; return or raise its result."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="demo-step", daemon=True)
    thread.start()
    while thread.is_alive():
        tick()
        thread.join(every_s)
    tick()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def produce_sample(settings: Settings, orders: int, console: Console) -> tuple[int, float]:
    """Write and send the sample; returns (records acknowledged, when the last was acked)."""
    from producers.olist import OlistReplay
    from producers.sample import olist_sample, sales_span, send_macro_and_weather
    from producers.sink import KafkaSink

    folder = sample_dir(settings)
    manifest = olist_sample(folder / "olist", orders)
    total_rows = sum(manifest.rows.values()) + len(manifest.bad_rows)
    replay = OlistReplay(settings, folder / "olist", threading.Event())
    acked = 0
    with _progress(console) as progress:
        task = progress.add_task("Olist files -> Kafka", total=total_rows)
        report = _in_thread(
            lambda: replay.run("fast"),
            lambda: progress.update(task, completed=replay.sink.report.total_acked),
        )
        progress.update(task, total=max(total_rows, report.total_acked))
        if report.failed or report.unflushed:
            raise DemoError(f"the Olist replay did not deliver everything: {report.summary()}")
        acked += report.total_acked
        marker = folder / "macro-weather-sent.json"
        first, last = sales_span(manifest)
        span = {"first": first.isoformat(), "last": last.isoformat()}
        if not marker.is_file() or json.loads(marker.read_text()) != span:
            sink = KafkaSink(settings, client_id="lakehouse-demo-sample")
            task = progress.add_task("IPCA, Selic, weather -> Kafka", total=None)
            sent = _in_thread(
                lambda: send_macro_and_weather(sink, first, last),
                lambda: progress.update(task, completed=sink.report.total_acked),
            )
            report = sink.close()
            progress.update(task, total=sent, completed=report.total_acked)
            if report.failed or report.unflushed:
                raise DemoError(f"macro and weather not all delivered: {report.summary()}")
            marker.write_text(json.dumps(span))
            acked += report.total_acked
    return acked, time.time()


def _rows_per_query(settings: Settings, secrets: Secrets, since: datetime) -> dict[str, int]:
    with connect(settings, secrets) as conn:
        rows = conn.execute(
            "SELECT query_name, sum(rows_in) FROM ops.stream_progress"
            " WHERE batch_started_at >= %s GROUP BY 1",
            (since,),
        ).fetchall()
    return {name: int(total) for name, total in rows}


def check_master(master: str) -> None:
    """Fail early, with what to do, when nothing listens at a ``spark://host:port`` master
    (spark-submit itself would retry for a minute before giving up)."""
    from urllib.parse import urlsplit

    from lakehouse.stack.process import port_accepts

    if not master.startswith("spark://"):
        return
    hosts = [urlsplit(f"spark://{part}") for part in master.removeprefix("spark://").split(",")]
    if not any(h.hostname and port_accepts(h.hostname, h.port or 7077) for h in hosts):
        raise DemoError(
            f"no Spark master answers at {master}: start this machine's cluster with "
            "`lakehouse cluster up`, or check the address"
        )


def run_stream(
    settings: Settings, secrets: Secrets, expected: int, console: Console, master: str | None = None
) -> Path:
    """``lakehouse stream --trigger availableNow`` as a child process (with ``master``: submitted
    to that master with spark-submit), with a bar per query fed from ops.stream_progress;
    raises DemoError (with the log's tail) if it fails."""
    log_file = settings.home / "logs" / "demo-stream.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    since = datetime.now(UTC)
    command = [sys.executable, "-m", "lakehouse.cli", "stream", "--trigger", "availableNow"]
    if master:
        command += ["--master", master]
    with log_file.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STREAM_DEADLINE_S
    with _progress(console) as progress:
        tasks = {
            q: progress.add_task(f"{q} query", total=expected if q == "ingest" else None)
            for q in STREAM_QUERIES
        }
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    raise DemoError(f"the streaming application ran over {STREAM_DEADLINE_S:.0f} s")
                for query, rows in _rows_per_query(settings, secrets, since).items():
                    if query in tasks:
                        progress.update(tasks[query], completed=rows)
                time.sleep(1)
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=120)
        for query, rows in _rows_per_query(settings, secrets, since).items():
            if query in tasks:
                progress.update(tasks[query], total=max(rows, 1), completed=rows)
    if process.returncode != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-30:])
        raise DemoError(f"the streaming application failed (exit {process.returncode}):\n{tail}")
    return log_file


def run_gates(settings: Settings, secrets: Secrets, console: Console) -> tuple[str, list[str]]:
    """The quality expectations over every layer, then gold's gated promotion."""
    from batch.promote import promote
    from batch.quality import run_quality, select

    run = run_quality(settings, secrets, select())
    for result in run.failures():
        console.print(f"  {result.line}")
    _gold_run, decisions = promote(settings, secrets)
    return run.summary(), [d.line for d in decisions]


def run_demo(settings: Settings, orders: int | None = None, master: str | None = None) -> int:
    """Run the main job end to end; print a summary and write the HTML report. ``master``:
    the streaming application is submitted there with spark-submit (default: in-process)."""
    from producers.sample import SAMPLE_ORDERS
    from warehouse.report import write_report

    console = Console(soft_wrap=True)
    steps = Steps(console)
    with steps.step("install what is missing"):
        run_setup(settings)
    with steps.step("start the stack (Kafka, S3 server, PostgreSQL)"):
        control.up(settings)
    if master:
        check_master(master)
    secrets = load_secrets(settings)
    with steps.step("send the sample to Kafka"):
        sent, last_sent_at = produce_sample(settings, orders or SAMPLE_ORDERS, console)
    on = f" on {master}" if master else ""
    with steps.step(f"stream bronze -> silver -> gold -> warehouse{on}"):
        stream_log = run_stream(settings, secrets, sent, console, master)
    with steps.step("quality gates and gold promotion"):
        quality, promotions = run_gates(settings, secrets, console)
    with steps.step("summary and report"):
        summary: Summary = gather_summary(settings, secrets, last_sent_at if sent else None)
        with connect(settings, secrets, role="reader") as conn:
            report = write_report(conn, report_path(settings))
    print_summary(console, summary, sent, quality, promotions, steps.timings)
    console.print(f"\nHTML report     : file://{report}")
    console.print(f"streaming log   : {stream_log}")
    console.print(
        'The stack stays up. Query a table: lakehouse query "SELECT * FROM gold.daily_sales'
        ' LIMIT 10"; status: lakehouse stack status; stop everything: make down.'
    )
    if summary.warehouse_orders == 0:
        raise DemoError("no order reached the warehouse")
    return 0
