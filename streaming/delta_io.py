"""The Delta writes every streaming query shares: create a table before its query starts,
run a MERGE under Delta's idempotent transaction id (``txnAppId``/``txnVersion``), so a
micro-batch replayed after a crash commits nothing twice, and hold a table's write lock while
writing it, so that maintenance in the same driver (OPTIMIZE, erasure) never races a MERGE."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from delta.tables import DeltaMergeBuilder, DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

log = logging.getLogger(__name__)

CHANGE_FEED = "delta.enableChangeDataFeed"
T = TypeVar("T")

_TABLE_LOCKS: dict[str, threading.RLock] = {}
_TABLE_LOCKS_GUARD = threading.Lock()


@contextmanager
def writing(path: str) -> Iterator[None]:
    """Hold the write lock of the Delta table at ``path`` (one per table in this driver).

    Delta resolves most concurrent commits itself, but a MERGE or DELETE whose files an
    OPTIMIZE rewrote meanwhile fails (ConcurrentDeleteReadException), which would stop a
    streaming query. Every job of the driver that rewrites a table's files holds its lock:
    the streaming writers, maintenance and erasure."""
    with _TABLE_LOCKS_GUARD:
        lock = _TABLE_LOCKS.setdefault(path.rstrip("/"), threading.RLock())
    with lock:
        yield


def _hadoop_path(spark: SparkSession, path: str) -> Any:  # an org.apache.hadoop.fs.Path
    return spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)


def _hadoop_fs(spark: SparkSession, path: str) -> Any:  # its FileSystem
    configuration = spark.sparkContext._jsc.hadoopConfiguration()
    return _hadoop_path(spark, path).getFileSystem(configuration)


def path_exists(spark: SparkSession, path: str) -> bool:
    """Whether anything (a file or a folder) exists at ``path``: one object-store request."""
    return bool(_hadoop_fs(spark, path).exists(_hadoop_path(spark, path)))


def listing(spark: SparkSession, path: str) -> dict[str, bool]:
    """What lies directly under ``path``: name -> whether it is a folder (nothing when
    ``path`` is missing). One object-store listing."""
    if not path_exists(spark, path):
        return {}
    statuses = _hadoop_fs(spark, path).listStatus(_hadoop_path(spark, path))
    return {status.getPath().getName(): bool(status.isDirectory()) for status in statuses}


def table_exists(spark: SparkSession, path: str) -> bool:
    """Whether a Delta table lives at ``path``: it has a committed version. A ``_delta_log``
    folder alone is not enough: a driver killed while creating the table leaves the folder
    (and Delta's ``_staged_commits``) without a commit, and such a table must be created again.
    One request to the object store when the folder is missing, the common case."""
    if not path_exists(spark, f"{path}/_delta_log"):
        return False
    return bool(DeltaTable.isDeltaTable(spark, path))


def ensure_table(
    spark: SparkSession,
    path: str,
    schema: str | Callable[[], DataFrame],
    *,
    change_feed: bool = False,
    partition_by: Sequence[str] = (),
    properties: Mapping[str, str] | None = None,
) -> None:
    """Create the Delta table at ``path`` empty, with ``schema`` (a DDL string, or a function
    returning a frame whose columns it takes, called only when the table is missing), unless
    it exists. ``change_feed`` turns on Delta's change data feed (gold reads silver's);
    ``properties``: more Delta table properties (``delta.*``)."""
    if path_exists(spark, f"{path}/_delta_log"):
        if DeltaTable.isDeltaTable(spark, path):
            return
        # a creation cut short (no commit): nothing to keep, and Delta's builder refuses it
        _hadoop_fs(spark, path).delete(_hadoop_path(spark, f"{path}/_delta_log"), True)
        log.warning("%s: removed the log of a table whose creation was cut short", path)
    frame = spark.createDataFrame([], schema) if isinstance(schema, str) else schema()
    # a metadata-only commit, without the Spark job an empty write runs
    builder = (
        DeltaTable.createIfNotExists(spark)
        .location(path)
        .addColumns(nullable(frame.schema))
        .partitionedBy(*partition_by)
    )
    for name, value in {
        **(properties or {}),
        **({CHANGE_FEED: "true"} if change_feed else {}),
    }.items():
        builder = builder.property(name, value)
    builder.execute()
    log.info("created %s", path)


def nullable(schema: StructType) -> StructType:
    """``schema`` with every field, element and value nullable, as Delta stores a written
    frame's schema: a column created NOT NULL would reject a later MERGE's nulls."""
    text = schema.json()
    for strict in ("nullable", "containsNull", "valueContainsNull"):
        text = text.replace(f'"{strict}":false', f'"{strict}":true')
    return cast(StructType, StructType.fromJson(json.loads(text)))


class KeptFrames:
    """Frames a micro-batch keeps while it writes them, released together (``release``).

    ``checkpoint``: computed once and kept (memory, then local disk) with the lineage cut.
    Delta's MERGE plans its source again without Spark's cache, so a MERGE fed from a cached
    Kafka micro-batch read the whole batch from Kafka once more (8 s of a 23k-record batch,
    per MERGE); from a kept frame it reads memory. A cut lineage also keeps Spark from
    inlining a wide expression (a payload parsed into typed columns and their errors) into
    each filter and column that uses it: filtering typed rows on their errors took 1.2 s for
    6,000 orders, 0.13 s on the kept rows. Not ``eager``: computed and kept by the first Spark
    job that reads it. ``persist``: Spark's cache, for frames only plain actions read."""

    def __init__(self) -> None:
        self._checkpoints: list[DataFrame] = []
        self._cached: list[DataFrame] = []

    def checkpoint(self, frame: DataFrame, eager: bool = True) -> DataFrame:
        kept = frame.localCheckpoint(eager=eager)
        self._checkpoints.append(kept)
        return kept

    def persist(self, frame: DataFrame) -> DataFrame:
        self._cached.append(frame.persist())
        return frame

    def release(self) -> None:
        for kept in self._checkpoints:
            # the kept rows are the blocks of the LogicalRDD the checkpoint put in the plan
            rdd_id = kept._jdf.queryExecution().analyzed().rdd().id()
            kept.sparkSession.sparkContext._jsc.sc().unpersistRDD(rdd_id, False)
        for frame in self._cached:
            frame.unpersist()
        self._checkpoints.clear()
        self._cached.clear()


@contextmanager
def materialized(frame: DataFrame, eager: bool = True) -> Iterator[DataFrame]:
    """``frame`` kept with its lineage cut while the block runs, then released (see
    ``KeptFrames.checkpoint``)."""
    kept = KeptFrames()
    try:
        yield kept.checkpoint(frame, eager)
    finally:
        kept.release()


def create_in_parallel(create: Callable[[T], None], items: Iterable[T], workers: int = 6) -> None:
    """``create(item)`` for every item, a few at a time: creating a Delta table is mostly
    waiting (a Spark job, object-store round trips), so the first start of the application,
    which creates some thirty tables, goes several times faster."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="create-table") as pool:
        for future in [pool.submit(create, item) for item in items]:
            future.result()


def table_version(spark: SparkSession, path: str) -> int:
    """The latest committed version of the Delta table at ``path``: the driver's snapshot of
    its log, brought up to date (one listing of the log, no Spark job)."""
    jvm = spark.sparkContext._jvm
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    none = jvm.scala.Option.empty()
    return int(log.update(False, none, none).version())


_SESSIONS: list[SparkSession] = []  # sessions of the driver's SparkContext lent to write tasks
_SESSIONS_GUARD = threading.Lock()


@contextmanager
def session_of_its_own(spark: SparkSession) -> Iterator[SparkSession]:
    """A session sharing ``spark``'s SparkContext (its cache, executors and Hadoop settings)
    with SQL settings of its own, lent for the block. Delta takes a MERGE's transaction id
    from session settings, so MERGEs run side by side each need one."""
    with _SESSIONS_GUARD:
        session = _SESSIONS.pop() if _SESSIONS else spark.newSession()
    try:
        yield session
    finally:
        with _SESSIONS_GUARD:
            _SESSIONS.append(session)


def run_side_by_side(
    spark: SparkSession, tasks: Mapping[str, Callable[[SparkSession], T]], threads: int
) -> dict[str, T]:
    """``tasks[name](session)`` for every task, ``threads`` at a time, each with a session of
    its own (``spark`` itself when one at a time). A Delta commit of a few thousand rows is
    mostly waiting (planning, object-store round trips, job scheduling), which overlaps well
    even on 2 cores. The first failure is raised once every task has ended."""
    if threads <= 1 or len(tasks) <= 1:
        return {name: task(spark) for name, task in tasks.items()}

    def run(name: str, task: Callable[[SparkSession], T]) -> T:
        began = time.perf_counter()
        with session_of_its_own(spark) as session:
            try:
                return task(session)
            finally:
                log.debug("%s: %.2f s", name, time.perf_counter() - began)

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="delta-write") as pool:
        futures = {name: pool.submit(run, name, task) for name, task in tasks.items()}
    return {name: future.result() for name, future in futures.items()}


def streaming_query_id(batch: DataFrame) -> str:
    """The id of the streaming query whose foreachBatch function received ``batch`` (Spark sets
    it as a property of the thread running the batch)."""
    query_id = batch.sparkSession.sparkContext.getLocalProperty("sql.streaming.queryId")
    if not query_id:
        raise RuntimeError("only a streaming query's foreachBatch function has a query id")
    return str(query_id)


def txn_app_id(batch: DataFrame, target: str) -> str:
    """The transaction app id of a streaming query's writes to ``target``: the query's id (kept
    in its checkpoint) and the target. A new checkpoint gets a new id, so its batch ids, which
    start again at 0, are not mistaken for versions already committed."""
    return f"{streaming_query_id(batch)}:{target}"


def idempotent_merge(
    merge: DeltaMergeBuilder,
    app_id: str | None,
    version: int | None,
    spark: SparkSession | None = None,
) -> int:
    """Execute ``merge`` as transaction ``version`` of writer ``app_id`` (Delta skips a version
    it has already committed); without them (a batch job), as a plain MERGE. ``spark``: the
    session of the MERGE's target table (default: the active one), whose settings carry the
    transaction id. Returns the rows inserted, updated or deleted."""
    if app_id is None or version is None:
        metrics = merge.execute().first()
        return int(metrics["num_affected_rows"]) if metrics is not None else 0
    spark = spark or SparkSession.getActiveSession()
    assert spark is not None, "a MERGE runs inside a Spark session"
    spark.conf.set("spark.databricks.delta.write.txnAppId", app_id)
    spark.conf.set("spark.databricks.delta.write.txnVersion", str(version))
    try:
        metrics = merge.execute().first()
    finally:
        spark.conf.unset("spark.databricks.delta.write.txnAppId")
        spark.conf.unset("spark.databricks.delta.write.txnVersion")
    return int(metrics["num_affected_rows"]) if metrics is not None else 0
