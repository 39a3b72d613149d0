"""A streaming progress report becomes one ops.stream_progress row."""

from __future__ import annotations

from datetime import UTC, datetime

from streaming.progress import UPSERT, ProgressRow, progress_row

KAFKA_PROGRESS = {
    "id": "4f2a0c0e-0000-4000-8000-000000000001",
    "runId": "4f2a0c0e-0000-4000-8000-000000000002",
    "name": "bronze",
    "timestamp": "2026-11-29T06:38:05.647Z",
    "batchId": 7,
    "batchDuration": 3417,
    "numInputRows": 1200,
    "inputRowsPerSecond": 400.0,
    "processedRowsPerSecond": "NaN",
    "sources": [
        {"description": "KafkaV2[Subscribe[a]]", "metrics": {"maxOffsetsBehindLatest": "30"}},
        {"description": "KafkaV2[Subscribe[b]]", "metrics": {"maxOffsetsBehindLatest": "12"}},
    ],
    "sink": {"description": "ForeachBatchSink", "numOutputRows": -1},
}


def test_kafka_progress_row_sums_offsets_behind_and_takes_rows_out_from_the_writer() -> None:
    row = progress_row(KAFKA_PROGRESS, rows_out=1190)
    assert row == ProgressRow(
        query_name="bronze",
        query_id="4f2a0c0e-0000-4000-8000-000000000001",
        run_id="4f2a0c0e-0000-4000-8000-000000000002",
        batch_id=7,
        batch_started_at=datetime(2026, 11, 29, 6, 38, 5, 647000, tzinfo=UTC),
        rows_in=1200,
        rows_out=1190,
        input_rows_per_s=400.0,
        processed_rows_per_s=None,
        batch_duration_ms=3417,
        lag=42,
        lag_unit="offsets",
    )


def test_delta_progress_row_counts_files_outstanding_and_sink_rows() -> None:
    progress = {
        **KAFKA_PROGRESS,
        "name": None,
        "sources": [{"description": "DeltaSource", "metrics": {"numFilesOutstanding": "3"}}],
        "sink": {"numOutputRows": 55},
    }
    row = progress_row(progress, rows_out=None)
    assert (row.query_name, row.rows_out, row.lag, row.lag_unit) == ("", 55, 3, "files")
    assert progress_row({**progress, "sources": []}, None).lag is None


def test_upsert_replaces_a_replayed_batch() -> None:
    assert "ON CONFLICT (query_id, batch_id) DO UPDATE" in UPSERT
    assert UPSERT.count("%s") == len(ProgressRow.__dataclass_fields__)
