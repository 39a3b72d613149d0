"""Exactly once under failure: the streaming application, run as its own process, is killed
with SIGKILL (process group: driver and JVM) at a random moment after it has committed a
new micro-batch, and restarted, five times; a last run finishes. Bronze, silver and gold then
equal the ground truth: nothing lost, nothing twice."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from lakehouse.settings import Settings
from tests.integration import pipeline_input as pi

KILLS = 5
# Small micro-batches, so that kills land between and inside several of them in each layer.
SMALL_BATCHES = {
    "LAKEHOUSE_SPARK__MAX_OFFSETS_PER_TRIGGER": "1200",
    "LAKEHOUSE_SPARK__MAX_FILES_PER_TRIGGER": "4",
}
BATCH_LINE = re.compile(rb"INFO streaming\.\w+_job: \w+ batch \d+")


def _batches_logged(log: Path) -> int:
    return len(BATCH_LINE.findall(log.read_bytes())) if log.exists() else 0


def _wait_for_new_batch(process: subprocess.Popen[bytes], log: Path, seen: int) -> bool:
    """True once the log shows a batch beyond ``seen``; False when the process ends first."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if _batches_logged(log) > seen:
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.5)
    raise AssertionError(f"no new micro-batch within 300 s; log tail: {log.read_text()[-2000:]}")


def _start(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **SMALL_BATCHES, "LAKEHOUSE_NAMESPACE": settings.namespace}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "lakehouse.cli", "stream", "--trigger", "availableNow"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    spark, ns_settings: Settings, tmp_path: Path
) -> None:
    produced = pi.produce(ns_settings, tmp_path / "data", orders=200, seed=2026)
    log = tmp_path / "stream.log"
    rng = random.Random(ns_settings.namespace)
    kills = 0
    while kills < KILLS:
        seen = _batches_logged(log)
        process = _start(ns_settings, log)
        if not _wait_for_new_batch(process, log, seen):
            break  # it drained everything: too little data left to kill it again
        delay = rng.uniform(0, 6)
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        kills += 1
        print(f"kill {kills}: SIGKILL {delay:.1f} s after batch {_batches_logged(log)} was logged")
    assert kills == KILLS, f"the application finished after {kills} kills"

    started = time.monotonic()
    process = _start(ns_settings, log)
    assert process.wait(timeout=900) == 0, log.read_text()[-3000:]
    print(f"final run: {time.monotonic() - started:.1f} s")

    pi.assert_bronze_equals_produced(spark, ns_settings, produced)
    pi.assert_silver_and_quarantine_cover_bronze(spark, ns_settings)
    pi.assert_quarantine_reasons(spark, ns_settings)
    pi.assert_gold_matches_manifest(spark, ns_settings, produced.manifest)
    pi.assert_gold_equals_recomputation(spark, ns_settings)
