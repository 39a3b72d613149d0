"""``lakehouse batch erase --customer <id or token>``: LGPD erasure of one data subject.

The subject is found in silver.customers by ``customer_id``, ``customer_unique_id`` or the
warehouse's ``customer_token`` (the keyed token of the unique id). Then, each Delta write
under the table's write lock:

- bronze.events: the subject's raw records of topic olist.customers deleted; in those of
  olist.orders, their customer id replaced by null inside the raw value (the sale stays, the
  link goes);
- silver.quarantine: rejected records that mention the subject deleted;
- silver.customers: the subject's rows deleted; silver.orders: ``customer_id`` set to null;
- gold: the sale dates of the subject's orders recomputed (their state attribution moves);
- warehouse: ``dw.fct_order.customer_id`` set to null and the ``dw.dim_customer`` rows
  deleted, in one transaction (the warehouse query later receives the same changes from
  silver's change feed and finds nothing left to do);
- every changed Delta table is vacuumed with ``maintenance.erasure_vacuum_hours``: at 0 the
  files that held the subject are gone at once; otherwise at the first VACUUM after that
  retention, the time travel window the policy keeps.

An audit entry (the subject's token, never the id in clear, and the counts) is the proof.
Kafka keeps the original records until the topics' retention expires them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from batch.lake_jobs import JobResult
from batch.maintenance import vacuum_table
from lakehouse.postgres import connect
from lakehouse.registry import BRONZE_EVENTS, kafka_topic, table_path
from lakehouse.settings import Secrets, Settings
from security import masking
from security import spark_masking as sm
from security.runtime import audit_event, masking_key
from streaming.bronze_job import bronze_path, read_bronze
from streaming.delta_io import writing
from streaming.gold_job import recompute_days

log = logging.getLogger(__name__)

BRONZE_CUSTOMERS, BRONZE_ORDERS = "olist.customers", "olist.orders"  # topics of bronze.events


@dataclass
class Subject:
    """The data subject: the keyed token of their unique id, and every id that names them."""

    token: str
    unique_ids: list[str] = field(default_factory=list)
    customer_ids: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return sorted({*self.unique_ids, *self.customer_ids})


def _delta(spark: SparkSession, settings: Settings, layer: str, name: str) -> DataFrame:
    return spark.read.format("delta").load(table_path(settings, layer, name))


def find_subject(spark: SparkSession, settings: Settings, given: str) -> Subject:
    """Every id of the subject ``given`` names (an id or a token), from silver.customers and,
    for a person silver has not seen, bronze's olist.customers records."""
    version, key = masking_key(settings)
    customers = _delta(spark, settings, "silver", "customers")
    token = sm.token_col("customer_unique_id", key, version)
    rows = (
        customers.where(
            (F.col("customer_id") == given)
            | (F.col("customer_unique_id") == given)
            | (token == given)
        )
        .select("customer_id", "customer_unique_id")
        .collect()
    )
    raw = read_bronze(spark, settings, BRONZE_CUSTOMERS).select(
        F.get_json_object("value", "$.payload.customer_id").alias("customer_id"),
        F.get_json_object("value", "$.payload.customer_unique_id").alias("customer_unique_id"),
    )
    unique_ids = {r.customer_unique_id for r in rows} | {
        r.customer_unique_id
        for r in raw.where((F.col("customer_id") == given) | (F.col("customer_unique_id") == given))
        .distinct()
        .collect()
    }
    unique_ids.discard(None)
    if unique_ids:  # every customer_id of the person (Olist gives one per order)
        rows += raw.where(F.col("customer_unique_id").isin(sorted(unique_ids))).collect()
    customer_ids = sorted({r.customer_id for r in rows if r.customer_id})
    first = min(unique_ids) if unique_ids else given
    return Subject(masking.token(first, key, version) or given, sorted(unique_ids), customer_ids)


def _mentions(column: str, ids: list[str]) -> Column:
    return F.exists(F.array(*[F.lit(f'"{i}"') for i in ids]), lambda i: F.instr(column, i) > 0)


def erase_lake(spark: SparkSession, settings: Settings, subject: Subject) -> dict[str, int]:
    """Delete or unlink the subject in bronze, silver.quarantine, silver and gold; returns
    rows changed per table."""
    from delta.tables import DeltaTable

    changed: dict[str, int] = {}

    def write(layer: str, name: str, action: str, condition: Column, **updates: Column) -> None:
        """``action`` on the rows of ``layer.name`` matching ``condition``; ``name`` may be a
        topic of bronze.events."""
        topic = None
        if layer == "bronze":
            topic, condition = name, (F.col("topic") == kafka_topic(settings, name)) & condition
        path = bronze_path(settings) if topic else table_path(settings, layer, name)
        with writing(path):
            table = DeltaTable.forPath(spark, path)
            matched = table.toDF().where(condition).count()
            if matched and action == "delete":
                table.delete(condition)
            elif matched:
                table.update(condition, updates)
        changed[f"{layer}.{name.replace('.', '_')}"] = matched

    customer_ids = F.lit(subject.customer_ids)
    payload_customer = F.get_json_object("value", "$.payload.customer_id")
    if subject.ids:
        ids = subject.ids
        write(
            "bronze",
            BRONZE_CUSTOMERS,
            "delete",
            F.array_contains(customer_ids, payload_customer)
            | F.get_json_object("value", "$.payload.customer_unique_id").isin(ids),
        )
        write("silver", "quarantine", "delete", _mentions("raw_value", ids))
    if subject.customer_ids:
        quoted = [f'"{i}"' for i in subject.customer_ids]
        unlinked = F.col("value")
        for q in quoted:
            unlinked = F.replace(unlinked, F.lit(q), F.lit("null"))
        write(
            "bronze",
            BRONZE_ORDERS,
            "update",
            F.array_contains(customer_ids, payload_customer),
            value=unlinked,
        )
        orders = _delta(spark, settings, "silver", "orders")
        days = [
            r.day
            for r in orders.where(F.col("customer_id").isin(subject.customer_ids))
            .select(F.to_date("order_purchase_timestamp").alias("day"))
            .distinct()
            .collect()
            if r.day is not None
        ]
        write("silver", "customers", "delete", F.col("customer_id").isin(subject.customer_ids))
        write(
            "silver",
            "orders",
            "update",
            F.col("customer_id").isin(subject.customer_ids),
            customer_id=F.lit(None).cast("string"),
        )
        changed["gold (rows recomputed)"] = recompute_days(spark, settings, days)
    return changed


def erase_warehouse(settings: Settings, secrets: Secrets, subject: Subject) -> dict[str, int]:
    """Unlink the subject's orders and delete their customer rows, in one transaction."""
    with connect(settings, secrets, role="loader") as conn:
        orders = conn.execute(
            "UPDATE dw.fct_order SET customer_id = NULL WHERE customer_id = ANY(%s::text[])",
            (subject.customer_ids,),
        ).rowcount
        customers = conn.execute(
            "DELETE FROM dw.dim_customer "
            "WHERE customer_id = ANY(%s::text[]) OR customer_token = %s",
            (subject.customer_ids, subject.token),
        ).rowcount
    return {"dw.fct_order (unlinked)": orders, "dw.dim_customer": customers}


def run_erasure(
    spark: SparkSession, settings: Settings, secrets: Secrets, args: dict[str, Any]
) -> JobResult:
    """The ``erase`` lake job for ``args["customer"]``."""
    subject = find_subject(spark, settings, str(args["customer"]).strip())
    changed = erase_lake(spark, settings, subject) | erase_warehouse(settings, secrets, subject)
    hours = settings.maintenance.erasure_vacuum_hours
    # bronze.<topic> counts are of bronze.events' rows of that topic
    touched = {
        f"bronze.{BRONZE_EVENTS}" if t.startswith("bronze.") else t
        for t, n in changed.items()
        if n and t.split(".")[0] in ("bronze", "silver")
    }
    purged = {
        t: vacuum_table(spark, table_path(settings, *t.split(".")), hours) for t in sorted(touched)
    }
    if hours:
        purge = (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M UTC")
        purge_note = f"files holding the erased rows are deleted by the first VACUUM after {purge}"
    else:
        purge_note = f"{sum(purged.values())} files holding the erased rows deleted now"
    summary = ", ".join(f"{t} {n}" for t, n in changed.items())
    audit_event(
        settings,
        "lgpd.erase",
        f"customer {subject.token}",
        f"ok: {len(subject.customer_ids)} customer ids; {summary}; {purge_note}",
    )
    if not subject.ids:
        lines = [f"no data of subject {subject.token} found; nothing erased"]
    else:
        lines = [f"erased subject {subject.token} ({len(subject.customer_ids)} customer ids)"]
    lines += [f"  {t:<28} {n:>6}" for t, n in changed.items()]
    lines.append(f"  {purge_note}; audit entry written")
    figures = {
        "token": subject.token,
        "customer_ids": len(subject.customer_ids),
        "changed": changed,
        "files_purged": purged,
    }
    return JobResult("\n".join(lines), figures)
