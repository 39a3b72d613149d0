"""Warehouse transforms (pure): the rows silver writes in a micro-batch reduced to what the
star schema loads, typed, one row per warehouse key.

The load (``warehouse/sink.py``) stages each entity's rows as they are, in a table typed like
them, so nothing is encoded and parsed again on the way to PostgreSQL. The person's id leaves
as a keyed token; quarantine reasons leave without the values they quote.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from security import spark_masking as sm
from streaming.contracts import CONTRACTS

QUARANTINE = "quarantine"
# what the warehouse loads, beside the quarantine: every entity with a contract
ENTITIES = tuple(sorted(CONTRACTS))


def _customer_columns(key: bytes, key_version: int) -> list[Column]:
    """dim_customer's columns: the person's id as a keyed token, never in clear."""
    return [
        F.col("customer_id"),
        sm.token_col("customer_unique_id", key, key_version).alias("customer_token"),
        F.col("customer_zip3"),
        F.col("customer_city"),
        F.col("customer_state"),
    ]


def _columns(entity: str, masking_key: tuple[int, bytes]) -> list[Column]:
    """The columns of silver ``entity`` the warehouse loads."""
    if entity == "customers":
        version, key = masking_key
        return _customer_columns(key, version)
    if entity == "order_reviews":
        comment = F.coalesce("review_comment_title", "review_comment_message")
        return [
            *map(F.col, ("review_id", "order_id", "review_score", "review_creation_date")),
            F.col("review_answer_timestamp"),
            comment.isNotNull().alias("has_comment"),
        ]
    if entity == QUARANTINE:
        return [
            *map(F.col, ("topic", "partition", "offset", "stage", "seen_at")),
            # the reasons without the offending values, which may be personal data
            F.regexp_replace("reason", r": [^;]*", "").alias("reason"),
        ]
    return [F.col(f.name) for f in CONTRACTS[entity].fields]


def warehouse_rows(
    entity: str, silver_rows: DataFrame, masking_key: tuple[int, bytes]
) -> DataFrame:
    """The warehouse's rows of ``entity`` from rows of silver ``entity`` (or of
    silver.quarantine): its columns and ``produced_at``, one row per natural key, the newest
    ``produced_at`` (then the lowest event id, as silver picks)."""
    columns = _columns(entity, masking_key)
    if entity == QUARANTINE:
        return silver_rows.select(*columns)
    newest = Window.partitionBy(*CONTRACTS[entity].natural_key).orderBy(
        F.col("produced_at").desc(), "event_id"
    )
    return (
        silver_rows.withColumn("_rank", F.row_number().over(newest))
        .where("_rank = 1")
        .select(*columns, "produced_at")
    )
