"""The streaming application end to end on the real stack, exactly once under failure, in a
namespace of its own.

A synthetic set sent twice (every record duplicated), bad envelopes, IPCA/Selic and weather
go to Kafka. The application, run as its own process, is killed with SIGKILL (process group:
driver and JVM) at a random moment after it has committed a new micro-batch, and restarted; a
last run finishes (tests/faults kills a supervised application ten times more). Then: bronze
equals what was produced; silver + quarantine cover bronze with no duplicate keys, the right
reasons and no clear personal data; gold equals the generator's manifest and a batch
recomputation from silver; the warehouse equals the manifest (0 lost, 0 duplicated) and its
last reconciliation matched silver; every query's progress is in PostgreSQL; a warehouse batch
replayed by hand changes nothing; and a backfill (in this process: silver, gold and the
warehouse rebuilt from bronze under new checkpoints) changes nothing."""

from __future__ import annotations

import os
import random
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from chispa import assert_df_equality

from batch.backfill import backfill
from lakehouse.postgres import connect
from lakehouse.settings import Secrets, Settings
from security.runtime import masking_key
from streaming.gold_job import DAILY
from streaming.warehouse_job import load_warehouse, rebuild_warehouse
from tests.integration import pipeline_input as pi
from tests.integration.dashboards_check import assert_every_panel_returns_rows

KILLS = 1  # each restart costs about a minute on 2 cores; tests/faults kills ten times
# Small micro-batches, so that kills land between and inside several of them in each layer.
SMALL_BATCHES = {
    "LAKEHOUSE_SPARK__MAX_OFFSETS_PER_TRIGGER": "1200",
    "LAKEHOUSE_SPARK__MAX_FILES_PER_TRIGGER": "4",
}


def test_kafka_to_warehouse_exactly_once_through_a_sigkill(
    spark, ns_settings: Settings, secrets: Secrets, tmp_path: Path
) -> None:
    produced = pi.produce(ns_settings, tmp_path / "data", orders=200, seed=2026)
    log = tmp_path / "stream.log"
    rng = random.Random(ns_settings.namespace)
    kills = 0
    while kills < KILLS:
        seen, began = pi.batches_logged(log), time.monotonic()
        process = pi.start_stream(ns_settings, log, env=SMALL_BATCHES)
        if not pi.wait_for_log(process, log, seen):
            break  # it drained everything: too little data left to kill it again
        first_batch_s = time.monotonic() - began
        delay = rng.uniform(0, 6)
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        kills += 1
        print(f"run {kills}: first batch after {first_batch_s:.1f} s, killed {delay:.1f} s later")
    assert kills == KILLS, f"the application finished after {kills} kills"

    started = time.monotonic()
    process = pi.start_stream(ns_settings, log, env=SMALL_BATCHES)
    assert process.wait(timeout=900) == 0, log.read_text()[-3000:]
    print(f"final run: {time.monotonic() - started:.1f} s")

    pi.assert_bronze_equals_produced(spark, ns_settings, produced)
    pi.assert_silver_and_quarantine_cover_bronze(spark, ns_settings)
    pi.assert_quarantine_reasons(spark, ns_settings)
    pi.assert_no_clear_personal_data(spark, ns_settings, tmp_path / "data")
    pi.assert_gold_matches_manifest(spark, ns_settings, produced.manifest)
    pi.assert_gold_equals_recomputation(spark, ns_settings)
    pi.assert_warehouse_matches_manifest(ns_settings, secrets, produced.manifest)
    with connect(ns_settings, secrets, role="reader") as conn:
        now = datetime.now(UTC)
        assert_every_panel_returns_rows(conn, datetime(2016, 1, 1, tzinfo=UTC), now)
    progress = pi.stream_progress(ns_settings, secrets)
    assert set(progress) == {"ingest", "gold"}
    assert all(rows_in > 0 for rows_in, _rows_out in progress.values())

    with connect(ns_settings, secrets) as conn:
        warehouse = pi.warehouse_snapshot(conn)
        # a batch replayed by hand is skipped; all of silver loaded again changes nothing
        query_id, batch_id = conn.execute(
            "SELECT query_id::text, max(batch_id) FROM etl.batch_log GROUP BY 1"
        ).fetchone()
        silver = {"orders": pi.read(spark, ns_settings, "silver", "orders")}
        key = masking_key(ns_settings)
        query = ("ingest", query_id, batch_id)
        assert load_warehouse(silver, ns_settings, secrets, key, query=query) is None
        reloaded = rebuild_warehouse(spark, ns_settings, secrets, key)
        assert reloaded is not None and reloaded.written == 0, reloaded.rows
        assert pi.warehouse_snapshot(conn) == warehouse
        latest = conn.execute("SELECT bool_and(matches) FROM dashboard.reconciliation_latest")
        assert latest.fetchone() == (True,)

    counts = {n: pi.read(spark, ns_settings, "silver", n).count() for n in ("orders", "quarantine")}
    gold = pi.read(spark, ns_settings, "gold", DAILY).localCheckpoint()
    # a backfill (silver, gold and warehouse rebuilt from bronze, new checkpoints) changes nothing
    backfill(spark, ns_settings, secrets)
    assert {n: pi.read(spark, ns_settings, "silver", n).count() for n in counts} == counts
    again = pi.read(spark, ns_settings, "gold", DAILY)
    assert_df_equality(again, gold, ignore_row_order=True, ignore_nullable=True)
    with connect(ns_settings, secrets) as conn:
        assert pi.warehouse_snapshot(conn) == warehouse
