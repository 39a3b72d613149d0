"""A reconciliation whose PostgreSQL connection goes mid-way (a restart) is skipped with a
warning, not raised into gold's query: the next batch's reconciliation catches up."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from lakehouse.settings import Secrets, Settings
from streaming import warehouse_job


def test_a_connection_lost_during_the_reconciliation_skips_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    @contextlib.contextmanager
    def connection(*_args: object, **_kwargs: object) -> Iterator[object]:
        yield object()

    def terminated(*_args: object) -> None:
        raise psycopg.errors.AdminShutdown("terminating connection due to administrator command")

    monkeypatch.setattr(warehouse_job, "connect_loader", connection)
    monkeypatch.setattr(warehouse_job, "reconcile", terminated)
    settings = Settings(home=tmp_path)
    skipped = warehouse_job.reconcile_warehouse(settings, Secrets(), lambda _v: {}, "q", 3)
    assert skipped is None
    assert "reconciliation skipped: terminating connection" in caplog.text
