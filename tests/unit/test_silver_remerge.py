"""Silver's MERGE of a changing entity: the same event made again into other values (a backfill
after the masking key was rotated) replaces the row; the same event re-sent does not."""

from __future__ import annotations

import json

from delta.tables import DeltaTable
from pyspark.sql import functions as F

from streaming.contracts import CONTRACTS
from streaming.silver import parse_envelopes, type_payload, valid_rows
from streaming.silver_job import merge_entity, prepare

OLD_KEY = (1, b"old-masking-key-0123456789abcdef")
NEW_KEY = (2, b"new-masking-key-0123456789abcdef")
BRONZE_SCHEMA = "value STRING, topic STRING, partition INT, offset LONG, kafka_timestamp TIMESTAMP"


def _customers(spark, offset: int, produced_at: int):
    rows = []
    for i in range(3):
        payload = {
            "customer_id": f"c{i}", "customer_unique_id": f"u{i}",
            "customer_zip_code_prefix": "01310", "customer_city": "sao paulo",
            "customer_state": "SP", "customer_cpf": "529.982.247-25",
            "customer_email": f"p{i}@example.com", "customer_phone": "(11) 91234-5678",
        }  # fmt: skip
        envelope = {
            "source": "olist", "entity": "customers", "schema_version": 1,
            "produced_at": produced_at, "event_id": f"e{i}", "payload": payload,
        }  # fmt: skip
        rows.append((json.dumps(envelope), "olist.customers", 0, offset + i, None))
    bronze = spark.createDataFrame(rows, BRONZE_SCHEMA).withColumn(
        "kafka_timestamp", F.current_timestamp()
    )
    return valid_rows(type_payload(parse_envelopes(bronze), CONTRACTS["customers"]))


def _tokens(spark, path: str) -> set[str]:
    rows = spark.read.format("delta").load(path).select("customer_cpf_token").collect()
    return {r[0].split(":")[0] for r in rows}


def test_a_backfill_under_a_new_key_rewrites_tokens_and_a_resend_changes_nothing(
    spark, tmp_path
) -> None:
    contract = CONTRACTS["customers"]
    path = str(tmp_path / "customers")
    prepare(_customers(spark, 0, 1_700_000_000_000), contract, OLD_KEY).write.format("delta").save(
        path
    )
    table = DeltaTable.forPath(spark, path)
    assert _tokens(spark, path) == {"v1"}

    remade = prepare(_customers(spark, 0, 1_700_000_000_000), contract, NEW_KEY)
    assert merge_entity(table, remade, contract) == 3
    assert _tokens(spark, path) == {"v2"}
    assert spark.read.format("delta").load(path).count() == 3

    resent = prepare(_customers(spark, 100, 1_700_000_999_000), contract, NEW_KEY)
    assert merge_entity(table, resent, contract) == 0
    offsets = spark.read.format("delta").load(path).agg(F.max("offset")).first()[0]
    assert offsets == 2  # the rows of the first send stay
