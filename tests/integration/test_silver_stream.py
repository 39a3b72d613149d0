"""The streaming application end to end into silver on the real stack: a synthetic set plus
hand-made bad envelopes go through Kafka, bronze and silver; silver has no duplicate keys, no
clear personal data, the bad envelopes are quarantined with their reasons, and a second run of
the application changes nothing."""

from __future__ import annotations

import csv
import json
import threading
import uuid
from pathlib import Path

from pyspark.sql import functions as F

from lakehouse.registry import table_path
from producers.olist import OlistReplay
from producers.sink import KafkaSink
from producers.synthetic import CUSTOMERS, ORDERS, generate
from streaming.app import run


def _silver(spark, settings, name: str):
    return spark.read.format("delta").load(table_path(settings, "silver", name))


def _counts(spark, settings) -> dict[str, int]:
    names = ("orders", "order_items", "customers", "order_reviews", "quarantine")
    return {n: _silver(spark, settings, n).count() for n in names}


def test_kafka_to_silver_with_quarantine_masking_and_idempotent_rerun(
    spark, settings, tmp_path: Path
) -> None:
    generate(tmp_path, 300, seed=77)
    OlistReplay(settings, tmp_path, threading.Event()).run("fast")
    marker = uuid.uuid4().hex
    good_item = {
        "order_id": f"o-{marker}", "order_item_id": "1", "product_id": "p", "seller_id": "s",
        "shipping_limit_date": "2018-01-01 00:00:00", "price": "-5.00", "freight_value": "1.00",
    }  # fmt: skip
    bad_values = {
        "negative price": json.dumps(
            {"event_id": f"neg-{marker}", "source": "olist", "entity": "order_items",
             "schema_version": 1, "produced_at": 1, "payload": good_item}
        ),
        "not json": f"{{broken {marker}",
    }  # fmt: skip
    sink = KafkaSink(settings, client_id="silver-it")
    for value in bad_values.values():
        sink.send("olist.order_items", marker, value.encode())
    sink.close()

    run(spark, settings, "availableNow")

    orders = _silver(spark, settings, "orders")
    assert orders.groupBy("order_id").count().where("count > 1").count() == 0
    with (tmp_path / ORDERS).open(newline="") as handle:
        ours = {row["order_id"] for row in csv.DictReader(handle)}
    assert orders.where(F.col("order_id").isin(list(ours))).count() == len(ours)
    items = _silver(spark, settings, "order_items")
    assert items.groupBy("event_id").count().where("count > 1").count() == 0

    customers = _silver(spark, settings, "customers")
    assert not {"customer_cpf", "customer_email", "customer_name"} & set(customers.columns)
    with (tmp_path / CUSTOMERS).open(newline="") as handle:
        cpfs = [row["customer_cpf"] for row in csv.DictReader(handle)]
    text = F.concat_ws("|", *[F.col(c).cast("string") for c in customers.columns])
    assert (
        customers.where(text.rlike("|".join(c.replace(".", r"\.") for c in cpfs[:50]))).count() == 0
    )
    assert customers.where(F.col("customer_cpf_token").startswith("v1:")).count() > 0

    quarantine = _silver(spark, settings, "quarantine").where(F.col("raw_value").contains(marker))
    reasons = {r.reason for r in quarantine.collect()}
    assert reasons == {"price below 0", "value is not valid JSON"}

    before = _counts(spark, settings)
    run(spark, settings, "availableNow")
    assert _counts(spark, settings) == before
