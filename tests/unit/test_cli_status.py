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


def test_data_size_counts_blocks_on_disk_not_sparse_lengths(tmp_path: Path) -> None:
    """Kafka preallocates 10 MiB index files sparse: status once showed 43 GiB for 43 MB."""
    from lakehouse.stack.services import dir_size

    (tmp_path / "topic-0").mkdir()
    with (tmp_path / "topic-0" / "00000000000000000000.index").open("wb") as index:
        index.truncate(10 * 1024 * 1024)  # a hole: no block allocated
    (tmp_path / "topic-0" / "00000000000000000000.log").write_bytes(b"x" * 100_000)
    assert 100_000 <= dir_size(tmp_path) < 1024 * 1024
