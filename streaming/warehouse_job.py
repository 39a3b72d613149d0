"""The warehouse query: one stream of the changes of the silver tables the star schema is built
from (Delta's change data feed) and of the records silver quarantined, loaded micro-batch by
micro-batch into PostgreSQL (``warehouse/sink.py``): one COPY and one transaction per batch,
claimed in etl.batch_log so that a replayed batch changes nothing.

After each load the warehouse's totals (orders, items, GMV, freight, payments, reviews) are
compared with silver's at the table versions loaded, and the result lands in
ops.reconciliation beside the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import reduce

import psycopg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from lakehouse.registry import checkpoint_path, table_path
from lakehouse.settings import Secrets, Settings
from lakehouse.spark import trigger_options
from streaming.delta_io import streaming_query_id
from streaming.progress import record_rows_out
from streaming.warehouse_changes import QUARANTINE, change_rows
from warehouse.sink import (
    LoadResult,
    SilverTotals,
    WarehouseLoadError,
    connect_loader,
    load_changes,
)

log = logging.getLogger(__name__)

QUERY_NAME = "warehouse"
LOAD_ATTEMPTS = 3  # a batch whose connection breaks mid-load is loaded again, this many times
SOURCES = (
    "orders",
    "order_items",
    "order_payments",
    "order_reviews",
    "customers",
    "products",
    "sellers",
    "category_translation",
    "sgs",
    "weather",
)


# reconciliation measure -> (silver table, aggregate, column)
SILVER_MEASURES = {
    "orders": ("orders", "count", "*"),
    "order_items": ("order_items", "count", "*"),
    "gmv": ("order_items", "sum", "price"),
    "freight": ("order_items", "sum", "freight_value"),
    "payments": ("order_payments", "count", "*"),
    "payment_value": ("order_payments", "sum", "payment_value"),
    "reviews": ("order_reviews", "count", "*"),
}


def silver_totals(spark: SparkSession, settings: Settings) -> SilverTotals:
    """The reconciliation's silver side: ``SILVER_MEASURES`` over the silver tables at the
    given versions (a table not loaded yet counts as empty). Remembers each table's figures at
    its last version, so a load reads again only the tables that moved."""
    last: dict[str, tuple[int, dict[str, Decimal]]] = {}  # entity -> (version, its measures)

    def measures_of(entity: str, version: int) -> dict[str, Decimal]:
        if entity in last and last[entity][0] == version:
            return last[entity][1]
        aggregates = [
            getattr(F, function)(column).alias(measure)
            for measure, (source, function, column) in SILVER_MEASURES.items()
            if source == entity
        ]
        frame = (
            spark.read.format("delta")
            .option("versionAsOf", version)
            .load(table_path(settings, "silver", entity))
        )
        row = frame.agg(*aggregates).first()
        assert row is not None
        found = {k: Decimal(v or 0) for k, v in row.asDict().items()}
        last[entity] = (version, found)
        return found

    def totals(versions: Mapping[str, int]) -> Mapping[str, Decimal]:
        found = {measure: Decimal(0) for measure in SILVER_MEASURES}
        for entity in sorted({e for e, _, _ in SILVER_MEASURES.values()} & set(versions)):
            found.update(measures_of(entity, versions[entity]))
        return found

    return totals


def load_batch(
    changes: DataFrame,
    settings: Settings,
    secrets: Secrets,
    query_id: str,
    batch_id: int,
    *,
    totals: SilverTotals | None = None,
) -> LoadResult | None:
    """Load one batch of ``CHANGE_SCHEMA`` rows into the warehouse (None: loaded before),
    reconciled with ``totals`` (default: a fresh ``silver_totals``)."""
    table = changes.toArrow()
    totals = totals or silver_totals(changes.sparkSession, settings)
    for attempt in range(1, LOAD_ATTEMPTS + 1):
        try:
            with connect_loader(settings, secrets) as conn:
                result = load_changes(conn, QUERY_NAME, query_id, batch_id, table, totals)
            break
        except psycopg.OperationalError as exc:
            # The connection went (PostgreSQL restarted) or the transaction was rolled back:
            # nothing of the batch stayed, or all of it (a COMMIT whose answer was lost), which
            # the claim in etl.batch_log then skips. Either way loading it again is safe.
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if attempt == LOAD_ATTEMPTS:
                raise WarehouseLoadError(
                    f"warehouse batch {batch_id} failed {attempt} times, last: {reason}"
                ) from exc
            log.warning(
                "warehouse batch %d interrupted (%s): loading it again (attempt %d of %d)",
                batch_id,
                reason,
                attempt + 1,
                LOAD_ATTEMPTS,
            )
    if result is not None and result.mismatches:
        log.warning(
            "warehouse batch %d differs from silver in %s (a batch that ended inside a silver "
            "commit catches up with the next one)",
            batch_id,
            ", ".join(result.mismatches),
        )
    return result


def warehouse_writer(
    settings: Settings, secrets: Secrets, totals: SilverTotals
) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function of the warehouse query; ``totals`` (kept across batches)
    gives the reconciliation's silver side."""

    def write_warehouse_batch(batch: DataFrame, batch_id: int) -> None:
        query_id = streaming_query_id(batch)
        result = load_batch(batch, settings, secrets, query_id, batch_id, totals=totals)
        record_rows_out(batch, batch_id, result.written if result else 0)
        if result is not None:
            log.info(
                "warehouse batch %d: %d changes, %s",
                batch_id,
                result.changes,
                ", ".join(f"{k} {v}" for k, v in result.rows.items()) or "nothing new",
            )

    return write_warehouse_batch


def source_changes(
    read: Callable[[str, bool], DataFrame], masking_key: tuple[int, bytes]
) -> DataFrame:
    """The union of every source's changes (``CHANGE_SCHEMA``); ``read(table, change_feed)``
    gives a silver table as a stream (the query) or as a batch (a replay by hand)."""
    frames = [change_rows(e, read(e, True), masking_key) for e in SOURCES]
    frames.append(change_rows(QUARANTINE, read(QUARANTINE, False), masking_key))
    return reduce(DataFrame.unionByName, frames)


def change_stream(
    spark: SparkSession, settings: Settings, masking_key: tuple[int, bytes]
) -> DataFrame:
    """The union of every source's changes (``CHANGE_SCHEMA``) as one stream."""

    def read(name: str, change_feed: bool) -> DataFrame:
        reader = spark.readStream.format("delta").option(
            "maxFilesPerTrigger", settings.spark.max_files_per_trigger
        )
        if change_feed:
            reader = reader.option("readChangeFeed", "true")
        else:  # quarantine: its appends; erasure's and replay's deletes are not events
            reader = reader.option("skipChangeCommits", "true")
        return reader.load(table_path(settings, "silver", name))

    return source_changes(read, masking_key)


def start_warehouse(
    spark: SparkSession,
    settings: Settings,
    secrets: Secrets,
    masking_key: tuple[int, bytes],
    *,
    trigger: str | None = None,
) -> StreamingQuery:
    """Start the warehouse query over silver's change feeds and quarantine."""
    return (
        change_stream(spark, settings, masking_key)
        .writeStream.queryName(QUERY_NAME)
        .foreachBatch(warehouse_writer(settings, secrets, silver_totals(spark, settings)))
        .option("checkpointLocation", checkpoint_path(settings, QUERY_NAME))
        .trigger(**trigger_options(trigger or settings.spark.trigger))
        .start()
    )
