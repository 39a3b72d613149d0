"""The main job, as a newcomer runs it: the CLI's demo end to end on the real stack."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_demo_runs_end_to_end_and_summarises() -> None:
    lakehouse = Path(sys.executable).parent / "lakehouse"
    result = subprocess.run(
        [str(lakehouse), "demo", "--events", "300"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "== lakehouse demo summary" in out
    assert re.search(r"events produced and acknowledged\s*: 300\b", out)
    assert re.search(r"rows of this run in the table\s*: 300\b", out)
    total = int(re.search(r"rows in s3a://\S+ : (\d+)", out).group(1))
    assert total >= 300
    assert "PostgreSQL" in out and "15." in out
