"""The gold query: one stream of the changes of the silver tables gold is built from (Delta's
change data feed), reduced to the keys they touch.

Each micro-batch works out the sale dates the changes can move (``gold.affected_days``),
recomputes gold.daily_sales for exactly those dates from the current silver tables, and MERGEs
the result (rows of those dates that no longer exist are deleted); gold.sales_weather follows
for the same dates and the dates of new weather, and gold.monthly_gmv (a few dozen rows, each
deflated to the latest IPCA month) is recomputed whole. Recomputation from silver makes late
data and replays converge on what a batch run over silver gives; Delta transaction ids make a
replayed batch commit nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from lakehouse.registry import checkpoint_path, table_path
from lakehouse.settings import Settings
from lakehouse.spark import trigger_options
from streaming.delta_io import (
    ensure_table,
    idempotent_merge,
    streaming_query_id,
    txn_app_id,
    writing,
)
from streaming.gold import (
    affected_days,
    daily_sales,
    monthly_gmv,
    sales_weather,
    touches,
)
from streaming.progress import record_rows_out

log = logging.getLogger(__name__)

QUERY_NAME = "gold"
SOURCES = ("orders", "order_items", "order_reviews", "customers", "products", "sgs", "weather")
DAILY, MONTHLY, WEATHER = "daily_sales", "monthly_gmv", "sales_weather"
KEYS = {
    DAILY: ("sale_date", "state", "category"),
    MONTHLY: ("month",),
    WEATHER: ("sale_date", "state"),
}


def _silver(spark: SparkSession, settings: Settings, entity: str) -> DataFrame:
    return spark.read.format("delta").load(table_path(settings, "silver", entity))


def _gold(spark: SparkSession, settings: Settings, name: str) -> DataFrame:
    return spark.read.format("delta").load(table_path(settings, "gold", name))


def recompute(
    spark: SparkSession, settings: Settings, name: str, days: Sequence[dt.date] | None = None
) -> DataFrame:
    """Gold table ``name`` computed from the current silver tables (and gold.daily_sales for
    the tables built on it), for ``days`` only when given. A batch recomputation calls it
    without ``days``."""
    s = lambda entity: _silver(spark, settings, entity)  # noqa: E731
    if name == DAILY:
        orders = s("orders")
        if days is not None:
            orders = orders.where(F.to_date("order_purchase_timestamp").isin(list(days)))
        return daily_sales(
            orders, s("order_items"), s("customers"), s("products"), s("order_reviews")
        )
    daily = _gold(spark, settings, DAILY)
    if name == MONTHLY:
        return monthly_gmv(daily, s("sgs"))
    weather = s("weather")
    if days is not None:
        daily = daily.where(F.col("sale_date").isin(list(days)))
        weather = weather.where(F.to_date("observed_at").isin(list(days)))
    return sales_weather(daily, weather)


def ensure_gold_tables(spark: SparkSession, settings: Settings) -> None:
    """Create the empty gold tables (their schemas are those of the transforms' results)."""
    for name in (DAILY, MONTHLY, WEATHER):  # daily first: the others are built on it
        path = table_path(settings, "gold", name)
        ensure_table(spark, path, lambda name=name: recompute(spark, settings, name, []))


def merge_recomputed(
    settings: Settings, name: str, fresh: DataFrame, scope: Column | None, batch_id: int | None
) -> int:
    """MERGE recomputed rows into gold ``name``: update or insert by key, and delete the
    table's rows in ``scope`` (every row when None) that the recomputation no longer has.
    With a ``batch_id`` (a streaming batch) the MERGE is idempotent per batch."""
    path = table_path(settings, "gold", name)
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in KEYS[name])
    with writing(path):
        merge = (
            DeltaTable.forPath(fresh.sparkSession, path)
            .alias("t")
            .merge(fresh.alias("s"), condition)
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .whenNotMatchedBySourceDelete(scope)
        )
        app_id = txn_app_id(fresh, name) if batch_id is not None else None
        return idempotent_merge(merge, app_id, batch_id)


def recompute_days(spark: SparkSession, settings: Settings, days: Sequence[dt.date]) -> int:
    """Recompute gold for sale dates ``days`` from the current silver tables, outside a
    stream (erasure, backfill): daily_sales and sales_weather for those dates, monthly_gmv
    whole. Returns the rows merged."""
    if not days:
        return 0
    days, scope = sorted(days), F.col("t.sale_date").isin(sorted(days))
    written = merge_recomputed(
        settings, DAILY, recompute(spark, settings, DAILY, days), scope, None
    )
    fresh = recompute(spark, settings, WEATHER, days)
    written += merge_recomputed(settings, WEATHER, fresh, scope, None)
    return written + merge_recomputed(
        settings, MONTHLY, recompute(spark, settings, MONTHLY), None, None
    )


def gold_writer(
    settings: Settings, after_batch: Callable[[str, int], None] | None = None
) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function of the gold query; ``after_batch(query id, batch id)`` runs
    after each batch's writes (the application reconciles the warehouse there)."""

    def write_gold_batch(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        touched = batch.persist()
        try:
            orders, items = (
                _silver(spark, settings, "orders"),
                _silver(spark, settings, "order_items"),
            )
            days = sorted(r.sale_date for r in affected_days(touched, orders, items).collect())
            entities = {r.entity for r in touched.select("entity").distinct().collect()}
            weather_days = touched.where(F.col("entity") == "weather").select("day").distinct()
            weather_days = sorted(r.day for r in weather_days.collect() if r.day is not None)
            written = 0
            if days:
                fresh = recompute(spark, settings, DAILY, days)
                scope = F.col("t.sale_date").isin(days)
                written += merge_recomputed(settings, DAILY, fresh, scope, batch_id)
            if days or weather_days:
                both = sorted(set(days) | set(weather_days))
                fresh = recompute(spark, settings, WEATHER, both)
                scope = F.col("t.sale_date").isin(both)
                written += merge_recomputed(settings, WEATHER, fresh, scope, batch_id)
            if days or "sgs" in entities:
                fresh = recompute(spark, settings, MONTHLY)
                written += merge_recomputed(settings, MONTHLY, fresh, None, batch_id)
            record_rows_out(batch, batch_id, written)
            log.info(
                "gold batch %d: %d sale dates recomputed, %d rows merged",
                batch_id,
                len(days),
                written,
            )
        finally:
            touched.unpersist()
        if after_batch is not None:
            after_batch(streaming_query_id(batch), batch_id)

    return write_gold_batch


def gold_trigger(settings: Settings, trigger: str | None) -> str:
    """Gold's trigger when the application runs on ``trigger``: ``availableNow`` stays
    ``availableNow``; a service's gold runs on ``spark.gold_trigger``."""
    chosen = trigger or settings.spark.trigger
    return chosen if chosen == "availableNow" else settings.spark.gold_trigger


def start_gold(
    spark: SparkSession,
    settings: Settings,
    *,
    trigger: str | None = None,
    after_batch: Callable[[str, int], None] | None = None,
) -> StreamingQuery:
    """Start the gold query over the change feeds of the silver tables in ``SOURCES``, on
    ``trigger`` (default: the application's, or ``spark.gold_trigger`` when the application
    runs as a service: gold is not on the path to the warehouse, so it runs less often)."""
    ensure_gold_tables(spark, settings)
    streams = [
        touches(
            entity,
            spark.readStream.format("delta")
            .option("readChangeFeed", "true")
            .option("maxFilesPerTrigger", settings.spark.max_files_per_trigger)
            .load(table_path(settings, "silver", entity)),
        )
        for entity in SOURCES
    ]
    changes = streams[0]
    for stream in streams[1:]:
        changes = changes.unionByName(stream)
    return (
        changes.writeStream.queryName(QUERY_NAME)
        .foreachBatch(gold_writer(settings, after_batch))
        .option("checkpointLocation", checkpoint_path(settings, QUERY_NAME))
        .trigger(**trigger_options(gold_trigger(settings, trigger)))
        .start()
    )
