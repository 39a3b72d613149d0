"""The bronze transform, compared as whole DataFrames."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from streaming.bronze import BRONZE_COLUMNS, kafka_to_bronze

KAFKA_SCHEMA = T.StructType(
    [
        T.StructField("key", T.BinaryType()),
        T.StructField("value", T.BinaryType()),
        T.StructField("topic", T.StringType()),
        T.StructField("partition", T.IntegerType()),
        T.StructField("offset", T.LongType()),
        T.StructField("timestamp", T.TimestampType()),
        T.StructField("timestampType", T.IntegerType()),
    ]
)


def test_kafka_records_become_bronze_rows(spark) -> None:
    at = dt.datetime(2026, 3, 1, 12, 30)
    ingested = dt.datetime(2026, 3, 2, 0, 15)
    records = spark.createDataFrame(
        [
            (b"k1", '{"a": "ação"}'.encode(), "olist.orders", 0, 7, at, 0),
            (None, b"not json", "olist.orders", 2, 0, at, 0),
        ],
        KAFKA_SCHEMA,
    )
    expected = spark.createDataFrame(
        [
            ("k1", '{"a": "ação"}', "olist.orders", 0, 7, at, ingested, dt.date(2026, 3, 2)),
            (None, "not json", "olist.orders", 2, 0, at, ingested, dt.date(2026, 3, 2)),
        ],
        T.StructType(
            [
                T.StructField("key", T.StringType()),
                T.StructField("value", T.StringType()),
                T.StructField("topic", T.StringType()),
                T.StructField("partition", T.IntegerType()),
                T.StructField("offset", T.LongType()),
                T.StructField("kafka_timestamp", T.TimestampType()),
                T.StructField("ingested_at", T.TimestampType(), False),
                T.StructField("ingest_date", T.DateType(), False),
            ]
        ),
    )
    actual = kafka_to_bronze(records, ingested_at=F.lit(ingested))
    assert tuple(actual.columns) == BRONZE_COLUMNS
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
