"""The streaming application end to end on the real stack, exactly once under failure, in a
namespace of its own.

A synthetic set sent twice (every record duplicated), bad envelopes, IPCA/Selic and weather
go to Kafka. The application, run as its own process, is killed with SIGKILL (process group:
driver and JVM) at a random moment after it has committed a new micro-batch, and restarted,
five times; a last run finishes. Then: bronze equals what was produced; silver + quarantine
cover bronze with no duplicate keys, the right reasons and no clear personal data; gold
equals the generator's manifest and a batch recomputation from silver; every query's progress
is in PostgreSQL; and one more run (in this process) changes nothing."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

from chispa import assert_df_equality

from lakehouse.settings import Secrets, Settings
from streaming.app import run
from streaming.gold_job import DAILY
from tests.integration import pipeline_input as pi

KILLS = 5
# Small micro-batches, so that kills land between and inside several of them in each layer.
SMALL_BATCHES = {
    "LAKEHOUSE_SPARK__MAX_OFFSETS_PER_TRIGGER": "1200",
    "LAKEHOUSE_SPARK__MAX_FILES_PER_TRIGGER": "4",
}


def test_kafka_to_gold_exactly_once_through_five_sigkills(
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
    progress = pi.stream_progress(ns_settings, secrets)
    assert set(progress) == {"bronze", "silver", "gold"}
    assert all(rows_in > 0 for rows_in, _rows_out in progress.values())

    counts = {n: pi.read(spark, ns_settings, "silver", n).count() for n in ("orders", "quarantine")}
    gold = pi.read(spark, ns_settings, "gold", DAILY).localCheckpoint()
    run(spark, ns_settings, "availableNow")
    assert {n: pi.read(spark, ns_settings, "silver", n).count() for n in counts} == counts
    again = pi.read(spark, ns_settings, "gold", DAILY)
    assert_df_equality(again, gold, ignore_row_order=True, ignore_nullable=True)
