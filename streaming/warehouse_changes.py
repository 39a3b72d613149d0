"""Warehouse transforms (pure): silver's changes reduced to what the PostgreSQL load needs.

Every change becomes one row of ``CHANGE_SCHEMA``: the entity, its natural key and the columns
the star schema uses as JSON, the silver version it comes from and whether it was a delete. The
load (``warehouse/sink.py``) keeps the newest change per key and turns the JSON back into typed
columns in SQL, so each micro-batch crosses from Spark to PostgreSQL as one COPY.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from security import spark_masking as sm
from streaming.contracts import CONTRACTS

CHANGE_SCHEMA = "entity STRING, key STRING, row STRING, version LONG, deleted BOOLEAN"
# Timestamps travel without a zone (Olist's are local times), with microseconds.
JSON_OPTIONS = {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS", "dateFormat": "yyyy-MM-dd"}
QUARANTINE = "quarantine"


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


def natural_key(entity: str) -> tuple[str, ...]:
    """The columns that identify a row of ``entity`` in the warehouse."""
    if entity == QUARANTINE:
        return ("topic", "partition", "offset", "stage")
    return CONTRACTS[entity].natural_key


def change_rows(entity: str, changes: DataFrame, masking_key: tuple[int, bytes]) -> DataFrame:
    """``CHANGE_SCHEMA`` rows of silver ``entity``'s change data feed (update pre-images
    dropped), or of the appended rows of silver.quarantine (which has no change feed)."""
    if "_change_type" in changes.columns:
        changes = changes.where(F.col("_change_type") != "update_preimage")
        version = F.col("_commit_version")
        deleted = F.col("_change_type") == "delete"
    else:
        version, deleted = F.lit(0).cast("long"), F.lit(False)
    return changes.select(
        F.lit(entity).alias("entity"),
        F.to_json(F.struct(*natural_key(entity))).alias("key"),
        F.to_json(F.struct(*_columns(entity, masking_key)), JSON_OPTIONS).alias("row"),
        version.alias("version"),
        deleted.alias("deleted"),
    )
