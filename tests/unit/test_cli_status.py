"""`lakehouse stack status` shows the polling producers' health from their health files."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from lakehouse.cli import print_producer_health
from lakehouse.settings import Settings
from producers.daemon import record_health


def test_producer_health_is_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(home=tmp_path)
    print_producer_health(settings)
    assert capsys.readouterr().out == ""
    started = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
    record_health(settings, "bcb", started, None, RuntimeError("BCB answered 503"))
    print_producer_health(settings)
    out = capsys.readouterr().out
    assert "producer bcb: last run" in out and "error: RuntimeError" in out
    assert "last success never" in out
