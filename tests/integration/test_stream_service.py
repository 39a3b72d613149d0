"""Service mode: ``lakehouse stream --trigger "processingTime=2 seconds"`` runs bronze, silver
and gold at once until SIGTERM, which stops every query and exits 0 (the handler must not
call into the JVM while the main thread waits in a py4j call)."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from lakehouse.settings import Settings
from streaming.contracts import CONTRACTS
from tests.integration import pipeline_input as pi

SILVER_WITH_ROWS = re.compile(rb"silver batch \d+: \w+ [1-9]")


def test_service_mode_runs_until_sigterm_and_stops_cleanly(
    spark, ns_settings: Settings, tmp_path: Path
) -> None:
    pi.produce(ns_settings, tmp_path / "data", orders=30, seed=5)
    log = tmp_path / "stream.log"
    process = pi.start_stream(ns_settings, log, trigger="processingTime=2 seconds")
    try:
        assert pi.wait_for_log(process, log, 0, SILVER_WITH_ROWS), log.read_text()[-3000:]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
    assert "received SIGTERM: stopping 4 queries" in log.read_text()
    # bronze appends topic by topic, so the first silver batch holds whichever were committed
    assert sum(pi.read(spark, ns_settings, "silver", e).count() for e in CONTRACTS) > 0
