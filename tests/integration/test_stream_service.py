"""Service mode: ``lakehouse stream --trigger "processingTime=2 seconds"`` runs every query at
once until SIGTERM, which stops them and exits 0 (the handler must not call into the JVM while
the main thread waits in a py4j call). Meanwhile the lake jobs run INSIDE it: ``lakehouse batch
maintain`` (OPTIMIZE + VACUUM while the queries write) and ``lakehouse batch erase`` (LGPD),
queued by the commands and run by the application that holds the lake."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from pyspark.sql import functions as F

from lakehouse.postgres import connect
from lakehouse.settings import Secrets, Settings
from lakehouse.stack.process import wait_until
from lakehouse.storage import s3_client
from producers.synthetic import CUSTOMERS, Manifest
from security.runtime import audit_trail
from tests.integration import pipeline_input as pi


def _lakehouse(settings: Settings, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAKEHOUSE_NAMESPACE": settings.namespace}
    return subprocess.run(
        [sys.executable, "-m", "lakehouse.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _wait_for_warehouse(settings: Settings, secrets: Secrets, manifest: Manifest) -> None:
    """Until the star schema holds every order and every customer row of the files (orders can
    land first, against inferred customers, while silver.customers has not merged yet)."""
    wanted = (manifest.orders, manifest.rows[CUSTOMERS])

    def loaded() -> bool:
        with connect(settings, secrets, role="reader") as conn:
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM dw.fct_order),"
                " (SELECT count(*) FROM dw.dim_customer WHERE NOT is_inferred)"
            ).fetchone()
        return counts == wanted

    what = f"{wanted[0]} orders and {wanted[1]} customers in the warehouse"
    wait_until(loaded, deadline_s=400, what=what, poll_s=1)


def _wait_for_silver(settings: Settings, secrets: Secrets) -> None:
    """Until the ingest batch that loaded the warehouse last has ended, its silver writes
    committed: a batch loads the warehouse before its Delta commits."""

    def ended() -> bool:
        with connect(settings, secrets) as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM ops.stream_progress WHERE query_name = 'ingest'"
                " AND batch_id >= (SELECT max(batch_id) FROM etl.batch_log"
                " WHERE query_name = 'ingest'))"
            ).fetchone()
        return bool(row and row[0])

    wait_until(ended, deadline_s=120, what="the last loaded ingest batch to end", poll_s=0.5)


def _subject(data_dir: Path) -> dict[str, str]:
    with (data_dir / "olist_customers_dataset.csv").open(encoding="utf-8") as handle:
        return next(csv.DictReader(handle))


def _lake_strings(settings: Settings, secrets: Secrets) -> str:
    """Every string value of every Parquet file under the namespace's lake folder, live or
    not: what an erasure must have removed physically."""
    client = s3_client(settings, secrets)
    texts = []
    for obj in client.list_objects(
        settings.s3.bucket, prefix=f"{settings.namespace}/", recursive=True
    ):
        if not obj.object_name.endswith(".parquet") or "/_checkpoints/" in obj.object_name:
            continue
        data = client.get_object(settings.s3.bucket, obj.object_name).read()
        texts.append(json.dumps(pq.read_table(io.BytesIO(data)).to_pylist(), default=str))
    return "\n".join(texts)


def test_service_mode_runs_lake_jobs_live_and_stops_cleanly(
    spark, ns_settings: Settings, secrets: Secrets, tmp_path: Path
) -> None:
    produced = pi.produce(ns_settings, tmp_path / "data", orders=30, seed=5)
    log = tmp_path / "stream.log"
    process = pi.start_stream(
        ns_settings,
        log,
        trigger="processingTime=2 seconds",
        # batches of at most 400 records: each takes a share of every topic, so the silver
        # tables get several MERGEs, and small files for maintenance to compact
        env={
            "LAKEHOUSE_MAINTENANCE__ERASURE_VACUUM_HOURS": "0",
            "LAKEHOUSE_SPARK__MAX_OFFSETS_PER_TRIGGER": "400",
        },
    )
    try:
        _wait_for_warehouse(ns_settings, secrets, produced.manifest)
        _wait_for_silver(ns_settings, secrets)

        # OPTIMIZE + VACUUM while the queries run (they go on polling and committing)
        # insert-only silver tables hold a small file per batch that brought new rows by now
        chosen = ("silver.order_payments", "silver.order_items")
        maintained = _lakehouse(
            ns_settings, "batch", "maintain", "--json", *(f"--table={t}" for t in chosen)
        )
        assert maintained.returncode == 0, maintained.stderr[-3000:]
        tables = {t["table"]: t for t in json.loads(maintained.stdout)["tables"]}
        assert sorted(tables) == sorted(chosen)
        for name, t in tables.items():
            assert t["after"]["rows"] == t["before"]["rows"] > 0, name
            assert t["before"]["files"] >= 2 and t["after"]["files"] < t["before"]["files"], t
        assert tables["silver.order_payments"]["optimize"] == "compaction"
        assert tables["silver.order_items"]["optimize"].startswith("zorder")
        with connect(ns_settings, secrets, role="reader") as conn:
            stored = conn.execute("SELECT count(*) FROM ops.table_maintenance").fetchone()[0]
        assert stored == len(tables)

        # LGPD erasure of one person by their unique id
        person = _subject(produced.data_dir)
        erased = _lakehouse(
            ns_settings, "batch", "erase", "--customer", person["customer_unique_id"], "--json"
        )
        assert erased.returncode == 0, erased.stderr[-3000:]
        figures = json.loads(erased.stdout)
        assert figures["changed"]["silver.customers"] >= 1
        assert figures["changed"]["bronze.olist_customers"] >= 2  # produced twice
        # dw.dim_customer: the erasure (the ingest query may have loaded the rows first)
        assert "dw.dim_customer" in figures["changed"]
        assert figures["changed"]["gold (rows recomputed)"] > 0
        still_running = process.poll() is None
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert still_running, text[-3000:]
    assert "received SIGTERM: stopping 2 queries" in text
    assert re.search(r"lake job maintain \(request \d+\): ok", text), text[-3000:]
    assert re.search(r"lake job erase \(request \d+\): ok", text), text[-3000:]

    # nothing of the person remains: not in any live row, not in any file of the lake
    identifiers = [person[c] for c in ("customer_id", "customer_unique_id") if person.get(c)]
    identifiers += [person[c] for c in ("customer_email", "customer_cpf") if person.get(c)]
    lake = _lake_strings(ns_settings, secrets)
    assert figures["token"] not in lake
    for value in identifiers:
        assert value not in lake, value
    with connect(ns_settings, secrets, role="reader") as conn:
        left = conn.execute(
            "SELECT count(*) FROM dw.dim_customer WHERE customer_id = %s OR customer_token = %s",
            (person["customer_id"], figures["token"]),
        ).fetchone()[0]
        linked = conn.execute(
            "SELECT count(*) FROM dw.fct_order WHERE customer_id = %s", (person["customer_id"],)
        ).fetchone()[0]
    assert (left, linked) == (0, 0)
    orders = pi.read(spark, ns_settings, "silver", "orders")
    assert orders.count() == produced.manifest.orders  # the sales stay
    assert orders.where(F.col("customer_id") == person["customer_id"]).count() == 0
    proof = [
        json.loads(line) for _, line in audit_trail(ns_settings).entries() if b"lgpd.erase" in line
    ]
    assert any(figures["token"] in e["target"] for e in proof), proof
