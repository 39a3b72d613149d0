"""Warehouse load throughput beside a bare COPY of the same bytes, and order freshness from
Kafka to dw.fct_order with the streaming application running as a service.

    .lakehouse/venv/bin/python -m bench.warehouse_bench [--rows 100000] [--runs 3]
        [--rate 20] [--duration 60] [--skip-sink] [--skip-freshness] [--json PATH]

Needs the stack up (`lakehouse stack up`). Sink: a synthetic Olist set turned (in Python, no
Spark) into about ``--rows`` typed rows shaped as the ingest query sends them; each run COPYs
them into the typed staging tables and nothing else (the baseline), loads them with
``warehouse.sink.load_rows`` into a fresh namespace database (inserts), and loads them again
under a new batch id (nothing changes); medians of ``--runs``. Freshness: in a
namespace of its own, ``lakehouse stream --trigger "processingTime=1 second"`` runs while orders
(each with its customer, items, payments and reviews) go to Kafka at ``--rate`` orders/s for
``--duration`` seconds; a poller asks dw.fct_order every 100 ms which have arrived.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakehouse.kafka import ensure_topics
from lakehouse.postgres import connect, drop_database, ensure_database
from lakehouse.registry import OlistEntity, all_topics
from lakehouse.settings import Secrets, Settings, get_settings, load_secrets
from producers.csv_records import CsvRecord, read_records
from producers.olist import present_entities, read_header, to_row
from producers.sink import KafkaSink
from producers.synthetic import generate
from security.masking import make_tokeniser
from streaming.contracts import CONTRACTS
from warehouse.sink import WAREHOUSE_TOTALS, connect_loader, csv_bytes, load_rows, stage

log = logging.getLogger(__name__)

# Warehouse changes per synthetic order: order, customer, ~1.15 items, ~1.04 payments,
# ~1 review, 1/3 product, 1/32 seller (and the 71 categories).
CHANGES_PER_ORDER = 5.58
SINK_ENTITIES = ("category_translation", "sellers", "products", "customers", "orders",
                 "order_items", "order_payments", "order_reviews")  # fmt: skip
ORDER_FACTS = ("order_items", "order_payments", "order_reviews")
VISIBLE = "SELECT order_id FROM dw.fct_order WHERE order_id = ANY(%s)"
WAREHOUSE_BATCH = re.compile(rb"INFO streaming\.ingest_job: ingest batch \d+")
POLL_S = 0.1
CASES = {
    "insert": "load_rows, first load (inserts)",
    "noop": "load_rows, same rows, new batch (no-op)",
    "copy": "baseline: COPY into the typed staging tables",
}
BENCH_KEY = b"warehouse-bench-masking-key-0001"  # tokens only need to look like the real ones

OlistSet = dict[str, tuple[OlistEntity, list[str], list[CsvRecord]]]


def read_set(data_dir: Path) -> OlistSet:
    """entity -> (entity, header, records) of a generated Olist folder."""
    found: OlistSet = {}
    for entity in present_entities(data_dir):
        path = data_dir / entity.file_name
        header, after = read_header(entity, path)
        found[entity.entity] = (entity, header, list(read_records(path, after.offset, after.line)))
    return found


# --- sink throughput ---------------------------------------------------------------------------

ARROW: dict[str, pa.DataType] = {
    "string": pa.string(), "int": pa.int32(), "money": pa.decimal128(12, 2),
    "rate": pa.decimal128(18, 6), "double": pa.float64(), "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"), "epoch": pa.timestamp("us", tz="UTC"),
}  # fmt: skip
CONVERT: dict[str, Callable[[str], object]] = {
    "int": int, "money": Decimal, "rate": Decimal, "double": float,
    "date": lambda t: date.fromisoformat(t[:10]),
    "timestamp": lambda t: datetime.fromisoformat(t).replace(tzinfo=UTC),
}  # fmt: skip


def warehouse_row(entity: str, fields: dict[str, str], tokenise: Any) -> dict[str, object]:
    """The columns ``streaming.warehouse_rows.warehouse_rows`` gives for one silver row (empty
    CSV values are null in silver), but ``produced_at``."""
    typed = {f.name: CONVERT.get(f.kind, str)(fields[f.name]) if fields.get(f.name) else None
             for f in CONTRACTS[entity].fields}  # fmt: skip
    if entity == "customers":
        zip_prefix = fields["customer_zip_code_prefix"]
        return {
            "customer_id": typed["customer_id"],
            "customer_token": tokenise(typed["customer_unique_id"]),
            "customer_zip3": zip_prefix.zfill(5)[:3] if zip_prefix.isdigit() else None,
            "customer_city": typed["customer_city"],
            "customer_state": typed["customer_state"],
        }
    if entity == "order_reviews":
        title, message = typed.pop("review_comment_title"), typed.pop("review_comment_message")
        typed.pop("review_id"), typed.pop("order_id")
        return {"review_id": fields["review_id"], "order_id": fields["order_id"], **typed,
                "has_comment": (title or message) is not None}  # fmt: skip
    return typed


def _schema(entity: str, first: dict[str, object]) -> pa.Schema:
    kinds = {f.name: ARROW[f.kind] for f in CONTRACTS[entity].fields}
    kinds |= {"has_comment": pa.bool_(), "customer_token": pa.string(),
              "customer_zip3": pa.string(), "produced_at": ARROW["timestamp"]}  # fmt: skip
    return pa.schema([(name, kinds[name]) for name in first])


def stage_tables(olist: OlistSet) -> tuple[dict[str, pa.Table], Counter[str]]:
    """Every warehouse entity's rows as one batch of ``warehouse.sink.load_rows`` input (the
    entities a synthetic set lacks are empty); rows per entity."""
    tokenise = make_tokeniser(BENCH_KEY, 1)
    produced_at = datetime.now(UTC)
    tables, counts = {}, Counter[str]()
    for name in SINK_ENTITIES:
        _entity, header, records = olist[name]
        rows = [
            warehouse_row(name, dict(zip(header, r.fields or [], strict=True)), tokenise)
            | {"produced_at": produced_at}
            for r in records
        ]
        tables[name] = pa.Table.from_pylist(rows, _schema(name, rows[0]))
        counts[name] = len(rows)
    sgs = pa.schema([("series_code", pa.int32()), ("date", pa.date32()),
                     ("value", ARROW["rate"]), ("produced_at", ARROW["timestamp"])])  # fmt: skip
    weather = [(f.name, ARROW[f.kind]) for f in CONTRACTS["weather"].fields]
    quarantine = pa.schema([("topic", pa.string()), ("partition", pa.int32()),
                            ("offset", pa.int64()), ("stage", pa.string()),
                            ("seen_at", ARROW["timestamp"]), ("reason", pa.string())])  # fmt: skip
    tables["sgs"] = sgs.empty_table()
    tables["weather"] = pa.schema([*weather, ("produced_at", ARROW["timestamp"])]).empty_table()
    tables["quarantine"] = quarantine.empty_table()
    return tables, counts


def copy_baseline(conn: Any, tables: dict[str, pa.Table]) -> None:
    """The same rows COPYed into typed staging tables, nothing else: the load's floor."""
    with conn.transaction():
        for entity, table in tables.items():
            stage(conn, entity, table)


def sink_run(
    settings: Settings, secrets: Secrets, tables: dict[str, pa.Table], orders: int
) -> dict:
    """In a fresh database: seconds for the COPY baseline, the first load, the same rows again."""
    ensure_database(settings, secrets)
    try:
        with connect_loader(settings, secrets) as conn:
            began = time.perf_counter()
            copy_baseline(conn, tables)
            seconds = {"copy": time.perf_counter() - began}
            for case in ("insert", "noop"):
                began = time.perf_counter()
                result = load_rows(conn, "ingest", str(uuid.uuid4()), 0, tables)
                seconds[case] = time.perf_counter() - began
                assert result is not None
                if case == "insert":
                    assert result.rows.get("fct_order") == orders, result.rows
                    written = result.rows
                else:
                    assert result.written == 0, result.rows
            began = time.perf_counter()
            conn.execute(WAREHOUSE_TOTALS).fetchone()  # what a reconciliation reads
            totals_s = time.perf_counter() - began
        return {"seconds": seconds, "totals_s": totals_s, "written": written}
    finally:
        drop_database(settings, secrets)


def sink_bench(settings: Settings, secrets: Secrets, rows: int, runs: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        manifest = generate(Path(folder), max(1, round(rows / CHANGES_PER_ORDER)), seed)
        tables, per_entity = stage_tables(read_set(Path(folder)))
    began = time.perf_counter()
    csv_size = sum(len(csv_bytes(t)) for t in tables.values())
    encode_s = time.perf_counter() - began
    n = sum(t.num_rows for t in tables.values())
    print(f"sink: {n:,} rows from {manifest.orders:,} orders ({dict(per_entity)}), "
          f"{csv_size / 1e6:.1f} MB of CSV")  # fmt: skip
    results = []
    for run in range(runs):
        run_settings = settings.model_copy(update={"namespace": f"{settings.namespace}-s{run}"})
        results.append(sink_run(run_settings, secrets, tables, manifest.orders))
        cells = ", ".join(f"{k} {v:.2f} s" for k, v in results[-1]["seconds"].items())
        print(f"  run {run + 1}: {cells}")
    median = {k: statistics.median(r["seconds"][k] for r in results) for k in CASES}
    rate = {k: n / s for k, s in median.items()}
    print(f"\n{f'case (median of {runs})':44} {'seconds':>8} {'rows/s':>10} {'COPY rows/s':>12}"
          f" {'ratio':>6}")  # fmt: skip
    for case, name in CASES.items():
        print(f"{name:44} {median[case]:8.2f} {rate[case]:10,.0f} {rate['copy']:12,.0f}"
              f" {rate[case] / rate['copy']:6.2f}")  # fmt: skip
    totals_s = statistics.median(r["totals_s"] for r in results)
    print(f"(the CSV encoding, part of every case, takes {encode_s:.2f} s; the "
          f"reconciliation's warehouse totals at this size, {totals_s:.2f} s a batch)")  # fmt: skip
    return {"rows": n, "orders": manifest.orders, "rows_per_entity": dict(per_entity),
            "csv_bytes": csv_size, "csv_encode_s": encode_s, "totals_s": totals_s, "runs": results,
            "median_s": median, "rows_per_s": rate}  # fmt: skip


# --- freshness ---------------------------------------------------------------------------------


class Poller(threading.Thread):
    """Asks dw.fct_order every ``POLL_S`` which produced orders are there, and keeps when each
    was first seen (the time the query was sent: up to ``POLL_S`` late, plus the query)."""

    def __init__(self, settings: Settings, secrets: Secrets) -> None:
        super().__init__(name="freshness-poller", daemon=True)
        self._settings, self._secrets, self._lock = settings, secrets, threading.Lock()
        self.produced: dict[str, float] = {}
        self.visible: dict[str, float] = {}
        self.error: Exception | None = None
        self.stop = threading.Event()

    def add(self, order_id: str, at: float) -> None:
        with self._lock:
            self.produced[order_id] = at

    def seen(self, ids: list[str]) -> bool:
        with self._lock:
            return all(i in self.visible for i in ids)

    def run(self) -> None:
        try:
            with connect(self._settings, self._secrets, role="reader") as conn:
                conn.autocommit = True
                while not self.stop.wait(max(0.0, POLL_S - (time.time() % POLL_S))):
                    with self._lock:
                        pending = [i for i in self.produced if i not in self.visible]
                    asked = time.time()
                    found = conn.execute(VISIBLE, (pending,)).fetchall() if pending else []
                    with self._lock:
                        self.visible.update((order_id, asked) for (order_id,) in found)
        except Exception as exc:  # reported by the main thread
            self.error = exc


def stop_app(process: subprocess.Popen[bytes], timeout_s: float = 120) -> int | None:
    """SIGTERM and wait; SIGKILL the process group if it has not exited within ``timeout_s``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("the streaming application ignored SIGTERM for %.0f s: killed", timeout_s)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            return None
    return process.returncode


class Sender:
    """Sends orders, each with its customer, items, payments and reviews, as the replay would."""

    def __init__(self, olist: OlistSet) -> None:
        self.olist = olist
        self.orders = olist["orders"][2]
        self.by_key: dict[str, dict[str, list[CsvRecord]]] = {}
        for name, key in (("customers", "customer_id"), *((f, "order_id") for f in ORDER_FACTS)):
            header, records = olist[name][1:]
            at, self.by_key[name] = header.index(key), {}
            for record in records:
                self.by_key[name].setdefault((record.fields or [])[at], []).append(record)

    def send(self, sink: KafkaSink, name: str, records: list[CsvRecord]) -> int:
        entity, header, _ = self.olist[name]
        for record in records:
            row = to_row(entity, header, record, f"{entity.file_name}:{record.line}")
            sink.send(row.topic, row.key, row.value)
        return len(records)

    def send_order(self, sink: KafkaSink, order: CsvRecord) -> int:
        """One order and what belongs to it; the events sent."""
        fields = dict(zip(self.olist["orders"][1], order.fields or [], strict=True))
        sent = self.send(sink, "customers", self.by_key["customers"][fields["customer_id"]])
        sent += self.send(sink, "orders", [order])
        for name in ORDER_FACTS:
            sent += self.send(sink, name, self.by_key[name].get(fields["order_id"], []))
        return sent


def _wait(
    done: Callable[[], bool], deadline_s: float, process: subprocess.Popen[bytes], poller: Poller
) -> bool:
    """Poll ``done()`` until true, the deadline, the app's exit or the poller's failure."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and process.poll() is None and poller.error is None:
        if done():
            return True
        time.sleep(0.5)
    return bool(done())


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def progress_stats(settings: Settings, secrets: Secrets, since: datetime) -> dict[str, dict]:
    """Per query since ``since``: batches, average/median/max batch duration, rows in."""
    with connect(settings, secrets) as conn:
        rows = conn.execute(
            "SELECT query_name, count(*), avg(batch_duration_ms),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY batch_duration_ms),"
            " max(batch_duration_ms), sum(rows_in) FROM ops.stream_progress"
            " WHERE batch_started_at >= %s GROUP BY 1 ORDER BY 1",
            (since,),
        ).fetchall()
    keys = ("batches", "avg_ms", "p50_ms", "max_ms", "rows_in")
    return {r[0]: dict(zip(keys, map(float, r[1:]), strict=True)) for r in rows}


def run_freshness(settings: Settings, secrets: Secrets, args: argparse.Namespace) -> dict:
    """Warm up, start the app, send at a steady rate, wait for the orders, stop the app."""
    log_path = Path(tempfile.gettempdir()) / f"{settings.namespace}-stream.log"
    with tempfile.TemporaryDirectory() as folder:
        generate(Path(folder), args.warmup + max(1, round(args.rate * args.duration)), args.seed)
        sender = Sender(read_set(Path(folder)))
    id_at = sender.olist["orders"][1].index("order_id")
    order_ids = [(o.fields or [])[id_at] for o in sender.orders]
    warmup_ids, steady_ids = order_ids[: args.warmup], order_ids[args.warmup :]
    ensure_database(settings, secrets)
    ensure_topics(settings, all_topics())
    process: subprocess.Popen[bytes] | None = None
    poller = Poller(settings, secrets)
    try:  # warm-up: the catalogue and a few orders, so every query has run before the clock
        sink = KafkaSink(settings, client_id="bench-warehouse-warmup")
        for name in ("category_translation", "sellers", "products", "geolocation"):
            sender.send(sink, name, sender.olist[name][2])
        for order_id, order in zip(warmup_ids, sender.orders, strict=False):
            poller.add(order_id, time.time())
            sender.send_order(sink, order)
        sink.close()
        poller.start()
        began = time.monotonic()
        env = {**os.environ, "LAKEHOUSE_NAMESPACE": settings.namespace}
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "lakehouse.cli", "stream", "--trigger", args.trigger],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        up = _wait(lambda: WAREHOUSE_BATCH.search(log_path.read_bytes()) is not None
                   and poller.seen(warmup_ids), args.startup_timeout, process, poller)  # fmt: skip
        startup_s = time.monotonic() - began
        if not up:
            raise RuntimeError(f"the application was not up within {args.startup_timeout} s "
                               f"(poller: {poller.error!r}); see {log_path}")  # fmt: skip
        print(
            f"freshness: app up (warm-up orders in dw.fct_order) after {startup_s:.0f} s; "
            f"sending {len(steady_ids)} orders, {args.rate:g}/s for {args.duration:g} s"
        )
        sink = KafkaSink(settings, client_id="bench-warehouse-steady")
        steady_since, start, events = datetime.now(UTC), time.monotonic(), 0
        for i, (order_id, order) in enumerate(zip(steady_ids, sender.orders[args.warmup :],
                                                  strict=True)):  # fmt: skip
            time.sleep(max(0.0, start + i / args.rate - time.monotonic()))
            poller.add(order_id, time.time())
            events += sender.send_order(sink, order)
        send_s = time.monotonic() - start
        report = sink.close()
        assert report.total_acked == events, report.summary()
        drained = _wait(lambda: poller.seen(steady_ids), args.drain_timeout, process, poller)
        poller.stop.set()
        exit_code, process = stop_app(process), None
        progress = progress_stats(settings, secrets, steady_since)
    finally:
        poller.stop.set()
        if process is not None:
            stop_app(process)
        drop_database(settings, secrets)
    lag = {i: poller.visible[i] - poller.produced[i] for i in steady_ids if i in poller.visible}
    half = len(steady_ids) // 2
    halves = [[lag[i] for i in part if i in lag] for part in (steady_ids[:half], steady_ids[half:])]
    return {
        "orders_sent": len(steady_ids), "orders_seen": len(lag), "drained": drained,
        "events_sent": events, "send_s": send_s, "events_per_s": events / send_s,
        "orders_per_s": len(steady_ids) / send_s, "events_per_order": events / len(steady_ids),
        "poll_resolution_s": POLL_S, "startup_s": startup_s, "app_exit_code": exit_code,
        "freshness_s": {name: percentile(list(lag.values()), q) for name, q in
                        (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))} if lag else {},
        "p50_halves_s": [statistics.median(h) if h else None for h in halves],
        "stream_progress": progress, "log": str(log_path),
    }  # fmt: skip


def freshness_bench(settings: Settings, secrets: Secrets, args: argparse.Namespace) -> dict:
    result = run_freshness(settings, secrets, args)
    n, events, send_s = result["orders_sent"], result["events_sent"], result["send_s"]
    print(
        f"sent {n} orders = {events} events in {send_s:.1f} s ({events / send_s:.1f} "
        f"events/s, {events / n:.2f} per order); in dw.fct_order: {result['orders_seen']}"
    )
    if result["freshness_s"]:
        cells = "  ".join(f"{k} {v:.1f} s" for k, v in result["freshness_s"].items())
        print(f"freshness (visible - produced; {POLL_S * 1000:.0f} ms poll resolution): {cells}")
        first, second = (f"{h:.1f} s" if h is not None else "-" for h in result["p50_halves_s"])
        print(f"median freshness of the orders sent in the first half {first}, the second {second}")
    print(f"\n{'query':10} {'batches':>8} {'avg ms':>8} {'p50 ms':>8} {'max ms':>8} {'rows in':>9}")
    for name, s in result["stream_progress"].items():
        print(f"{name:10} {s['batches']:8.0f} {s['avg_ms']:8.0f} {s['p50_ms']:8.0f} "
              f"{s['max_ms']:8.0f} {s['rows_in']:9.0f}")  # fmt: skip
    print(f"application exit code {result['app_exit_code']}; log {result['log']}")
    return result


def machine() -> dict[str, object]:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
                 platform.processor())  # fmt: skip
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(memory, 1),
            "python": platform.python_version(), "date": date.today().isoformat()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="change rows per sink batch")
    parser.add_argument("--runs", type=int, default=3, help="sink runs (the median is shown)")
    parser.add_argument("--rate", type=float, default=20.0, help="orders per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sending")
    parser.add_argument("--warmup", type=int, default=20, help="orders sent before the clock")
    parser.add_argument("--trigger", default="processingTime=1 second")
    parser.add_argument("--startup-timeout", type=float, default=600.0)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-sink", action="store_true")
    parser.add_argument("--skip-freshness", action="store_true")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.runs < 1 or args.rows < 1:
        parser.error("--rate, --duration, --runs and --rows must be positive")
    logging.basicConfig(level=logging.WARNING)
    base = get_settings()
    secrets = load_secrets(base)
    stamp = int(time.time())
    info = machine()
    with connect(base, secrets) as conn:
        info["postgres"] = conn.execute("SHOW server_version").fetchone()[0]
    print(f"{info['date']}: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, "
          f"PostgreSQL {info['postgres']}, Python {info['python']}")  # fmt: skip
    figures: dict[str, object] = {"machine": info, "args": {k: str(v) for k, v in
                                                            vars(args).items()}}  # fmt: skip
    status = 0
    if not args.skip_sink:
        ns = base.model_copy(update={"namespace": f"bench-wh-{stamp}"})
        figures["sink"] = sink_bench(ns, secrets, args.rows, args.runs, args.seed)
    if not args.skip_freshness:
        ns = base.model_copy(update={"namespace": f"bench-fresh-{stamp}"})
        print()
        try:
            figures["freshness"] = freshness_bench(ns, secrets, args)
        except (RuntimeError, AssertionError) as exc:  # the sink's figures are still written
            print(f"freshness: {exc}")
            figures["freshness"], status = {"error": str(exc)}, 1
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
