"""The Delta writes every streaming query shares: create a table before its query starts,
and run a MERGE under Delta's idempotent transaction id (``txnAppId``/``txnVersion``), so a
micro-batch replayed after a crash commits nothing twice."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from delta.tables import DeltaMergeBuilder, DeltaTable
from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

CHANGE_FEED = "delta.enableChangeDataFeed"
T = TypeVar("T")


def ensure_table(
    spark: SparkSession,
    path: str,
    schema: DataFrame | str,
    *,
    change_feed: bool = False,
    partition_by: Sequence[str] = (),
) -> DeltaTable:
    """The Delta table at ``path``, created empty with ``schema`` (a DDL string or a frame
    whose columns it takes) when missing. ``change_feed`` turns on Delta's change data feed,
    also on a table that exists without it (gold reads silver's changes)."""
    if not DeltaTable.isDeltaTable(spark, path):
        empty = spark.createDataFrame([], schema) if isinstance(schema, str) else schema.limit(0)
        writer = empty.write.format("delta").mode("ignore").partitionBy(*partition_by)
        if change_feed:
            writer = writer.option(CHANGE_FEED, "true")
        writer.save(path)
        return DeltaTable.forPath(spark, path)
    table = DeltaTable.forPath(spark, path)
    if change_feed and table.detail().first().properties.get(CHANGE_FEED) != "true":
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('{CHANGE_FEED}' = 'true')")
        log.info("turned on the change data feed of %s", path)
    return table


def in_parallel(work: Callable[[T], object], items: Iterable[T], threads: int = 8) -> None:
    """Run ``work`` on every item from a few threads: creating tables is mostly waiting on the
    object store, and a dozen of them one after the other take half a minute."""
    with ThreadPoolExecutor(threads, thread_name_prefix="delta-io") as pool:
        for future in [pool.submit(work, item) for item in items]:
            future.result()


def txn_app_id(batch: DataFrame, target: str) -> str:
    """The transaction app id of a streaming query's writes to ``target``: the query's id (kept
    in its checkpoint) and the target. A new checkpoint gets a new id, so its batch ids, which
    start again at 0, are not mistaken for versions already committed."""
    query_id = batch.sparkSession.sparkContext.getLocalProperty("sql.streaming.queryId")
    if not query_id:
        raise RuntimeError("txn_app_id is for foreachBatch functions of a streaming query")
    return f"{query_id}:{target}"


def idempotent_merge(merge: DeltaMergeBuilder, app_id: str, version: int) -> int:
    """Execute ``merge`` as transaction ``version`` of writer ``app_id`` (Delta skips a version
    it has already committed). Returns the rows inserted, updated or deleted."""
    spark = SparkSession.getActiveSession()
    assert spark is not None, "a MERGE runs inside a Spark session"
    spark.conf.set("spark.databricks.delta.write.txnAppId", app_id)
    spark.conf.set("spark.databricks.delta.write.txnVersion", str(version))
    try:
        metrics = merge.execute().first()
    finally:
        spark.conf.unset("spark.databricks.delta.write.txnAppId")
        spark.conf.unset("spark.databricks.delta.write.txnVersion")
    return int(metrics["num_affected_rows"]) if metrics is not None else 0
