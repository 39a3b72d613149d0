"""Stream progress into PostgreSQL (``ops.stream_progress``): a StreamingQueryListener turns
each micro-batch's progress report into one row: rows in and out, batch duration, rates and
the lag behind the source (Kafka offsets, or Delta files not yet read).

Rows out come from the foreachBatch functions (Spark reports -1 for foreachBatch sinks): they
call ``record_rows_out`` and the listener picks the figure up. Progress is telemetry: when
PostgreSQL is down the row is dropped with a warning and the queries go on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from typing import Any

import psycopg
from pyspark.sql import DataFrame
from pyspark.sql.streaming import StreamingQueryListener

from lakehouse.postgres import connect
from lakehouse.settings import Secrets, Settings
from streaming.delta_io import streaming_query_id

log = logging.getLogger(__name__)

_rows_out: dict[tuple[str, int], int] = {}
_lock = threading.Lock()
RETRY_AFTER_S = 30.0


def record_rows_out(batch: DataFrame, batch_id: int, rows: int) -> None:
    """Called by a foreachBatch function: the rows batch ``batch_id`` of its query wrote."""
    with _lock:
        _rows_out[(streaming_query_id(batch), batch_id)] = rows


def _take_rows_out(query_id: str, batch_id: int) -> int | None:
    with _lock:
        return _rows_out.pop((query_id, batch_id), None)


@dataclass(frozen=True)
class ProgressRow:
    """One row of ops.stream_progress."""

    query_name: str
    query_id: str
    run_id: str
    batch_id: int
    batch_started_at: datetime
    rows_in: int
    rows_out: int | None
    input_rows_per_s: float | None
    processed_rows_per_s: float | None
    batch_duration_ms: int
    lag: int | None
    lag_unit: str | None


def _lag(sources: list[dict[str, Any]]) -> tuple[int | None, str | None]:
    """Offsets behind the latest (Kafka sources) or files outstanding (Delta sources), summed."""
    kafka = [s["metrics"]["maxOffsetsBehindLatest"] for s in sources
             if "maxOffsetsBehindLatest" in (s.get("metrics") or {})]  # fmt: skip
    if kafka:
        return sum(int(float(v)) for v in kafka), "offsets"
    delta = [s["metrics"]["numFilesOutstanding"] for s in sources
             if "numFilesOutstanding" in (s.get("metrics") or {})]  # fmt: skip
    if delta:
        return sum(int(float(v)) for v in delta), "files"
    return None, None


def progress_row(progress: dict[str, Any], rows_out: int | None) -> ProgressRow:
    """The ops.stream_progress row of a progress report (``StreamingQueryProgress.json``)."""
    lag, unit = _lag(progress.get("sources") or [])
    sink_rows = (progress.get("sink") or {}).get("numOutputRows", -1)
    return ProgressRow(
        query_name=progress.get("name") or "",
        query_id=progress["id"],
        run_id=progress["runId"],
        batch_id=int(progress["batchId"]),
        batch_started_at=datetime.fromisoformat(progress["timestamp"].replace("Z", "+00:00")),
        rows_in=int(progress.get("numInputRows") or 0),
        rows_out=rows_out if rows_out is not None else (sink_rows if sink_rows >= 0 else None),
        input_rows_per_s=_finite(progress.get("inputRowsPerSecond")),
        processed_rows_per_s=_finite(progress.get("processedRowsPerSecond")),
        batch_duration_ms=int(progress.get("batchDuration") or 0),
        lag=lag,
        lag_unit=unit,
    )


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if number == number and abs(number) != float("inf") else None


COLUMNS = [f.name for f in fields(ProgressRow)]
UPSERT = (
    f"INSERT INTO ops.stream_progress ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
    "ON CONFLICT (query_id, batch_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c not in ("query_id", "batch_id"))
    + ", recorded_at = now()"
)


class ProgressRecorder(StreamingQueryListener):
    """Writes every query progress of this driver to ops.stream_progress."""

    def __init__(self, settings: Settings, secrets: Secrets) -> None:
        self._settings, self._secrets = settings, secrets
        self._conn: psycopg.Connection | None = None
        self._down_since: float | None = None
        self._seen: dict[str, int] = {}  # query id -> last batch id handled
        self._handled = threading.Condition()

    def onQueryStarted(self, event: Any) -> None:
        log.info("query %s started (id %s, run %s)", event.name, event.id, event.runId)

    def onQueryProgress(self, event: Any) -> None:
        progress = json.loads(event.progress.json)
        row = progress_row(progress, _take_rows_out(progress["id"], int(progress["batchId"])))
        self.write(row)
        with self._handled:
            self._seen[row.query_id] = max(row.batch_id, self._seen.get(row.query_id, -1))
            self._handled.notify_all()

    def wait_until_handled(self, last_batches: dict[str, int], timeout_s: float = 15) -> bool:
        """Wait (at most ``timeout_s``) until the progress of each query's last batch has been
        handled: progress events arrive asynchronously, after the batch ends."""

        def done() -> bool:
            return all(self._seen.get(q, -1) >= b for q, b in last_batches.items())

        with self._handled:
            return self._handled.wait_for(done, timeout=timeout_s)

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        if event.exception:
            log.error("query %s failed: %s", event.id, event.exception.splitlines()[0])

    def write(self, row: ProgressRow) -> None:
        """Upsert ``row``; on a database error drop it and retry connecting later."""
        if self._down_since is not None and time.monotonic() - self._down_since < RETRY_AFTER_S:
            return
        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self._settings, self._secrets, role="loader")
                self._conn.autocommit = True
            with self._conn.transaction():
                self._conn.execute(UPSERT, astuple(row))
            self._down_since = None
        except psycopg.Error as exc:
            log.warning(
                "stream progress not recorded (PostgreSQL: %s); next try in %.0f s",
                str(exc).strip().splitlines()[0], RETRY_AFTER_S,
            )  # fmt: skip
            self._down_since = time.monotonic()
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
