"""Silver transforms compared as whole DataFrames: typing by contract, quarantine reasons,
good + quarantined = bronze, and masking of personal data."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import functions as F

from security import masking
from streaming.contracts import CONTRACTS
from streaming.silver import (
    mask_customers,
    parse_envelopes,
    quarantined_rows,
    redact_reviews,
    type_payload,
    valid_rows,
)

AT = dt.datetime(2026, 1, 2, 3, 4, 5)
SEEN = dt.datetime(2026, 1, 2, 3, 5, 0)
BRONZE_SCHEMA = "value STRING, topic STRING, partition INT, offset LONG, kafka_timestamp TIMESTAMP"


def _envelope(entity: str, payload: dict, event_id: str | None = "e1") -> str:
    body = {
        "source": "olist",
        "entity": entity,
        "schema_version": 1,
        "produced_at": 1_700_000_000_000,
    }
    if event_id:
        body["event_id"] = event_id
    body["payload"] = payload
    return json.dumps(body, ensure_ascii=False)


ITEM = {
    "order_id": "o1", "order_item_id": "1", "product_id": "p1", "seller_id": "s1",
    "shipping_limit_date": "2017-09-19 09:45:35", "price": "58.90", "freight_value": "13.29",
}  # fmt: skip


BAD_TYPES = {"freight_value": "abc", "shipping_limit_date": "19/09/2017"}


def _bronze(spark, values: list[str]):
    rows = [(v, "olist.order_items", 0, i, AT) for i, v in enumerate(values)]
    return spark.createDataFrame(rows, BRONZE_SCHEMA)


def test_items_are_typed_and_bad_rows_quarantined_with_every_reason(spark) -> None:
    values = [
        _envelope("order_items", ITEM, "good"),
        "{not json",
        _envelope("order_items", ITEM, None),
        _envelope("order_items", {**ITEM, "order_id": " ", "price": "-1.00"}, "neg"),
        _envelope("order_items", {**ITEM, **BAD_TYPES}, "types"),
    ]  # fmt: skip
    typed = type_payload(parse_envelopes(_bronze(spark, values)), CONTRACTS["order_items"])

    good = valid_rows(typed)
    expected_good = spark.createDataFrame(
        [("olist.order_items", 0, 0, AT, "good", dt.datetime(2023, 11, 14, 22, 13, 20), "o1", 1,
          "p1", "s1", dt.datetime(2017, 9, 19, 9, 45, 35), Decimal("58.90"), Decimal("13.29"))],
        "topic STRING, partition INT, offset LONG, kafka_timestamp TIMESTAMP, event_id STRING, "
        "produced_at TIMESTAMP, order_id STRING, order_item_id INT, product_id STRING, "
        "seller_id STRING, shipping_limit_date TIMESTAMP, price DECIMAL(12,2), "
        "freight_value DECIMAL(12,2)",
    )  # fmt: skip
    assert_df_equality(good, expected_good, ignore_nullable=True)

    quarantine = quarantined_rows(typed, "silver.order_items", F.lit(SEEN))
    expected_quarantine = spark.createDataFrame(
        [
            (values[1], "olist.order_items", 0, 1, AT, "silver.order_items",
             "value is not valid JSON", SEEN),
            (values[2], "olist.order_items", 0, 2, AT, "silver.order_items",
             "envelope lacks event_id", SEEN),
            (values[3], "olist.order_items", 0, 3, AT, "silver.order_items",
             "missing order_id; price below 0", SEEN),
            (values[4], "olist.order_items", 0, 4, AT, "silver.order_items",
             "shipping_limit_date is not a timestamp (expected yyyy-MM-dd HH:mm:ss): "
             "19/09/2017; "
             "freight_value is not a money: abc", SEEN),
        ],
        "raw_value STRING, topic STRING, partition INT, offset LONG, kafka_timestamp TIMESTAMP, "
        "stage STRING, reason STRING, seen_at TIMESTAMP",
    )  # fmt: skip
    assert_df_equality(quarantine, expected_quarantine, ignore_nullable=True, ignore_row_order=True)
    assert good.count() + quarantine.count() == len(values)


def test_review_scores_outside_1_to_5_are_quarantined(spark) -> None:
    review = {"review_id": "r1", "order_id": "o1", "review_score": "6"}
    typed = type_payload(
        parse_envelopes(_bronze(spark, [_envelope("order_reviews", review)])),
        CONTRACTS["order_reviews"],
    )
    reasons = [r.reason for r in quarantined_rows(typed, "silver.order_reviews").collect()]
    assert reasons == ["review_score above 5"]


def test_customers_leave_no_personal_data_in_clear(spark) -> None:
    key, version = b"test-masking-key-0123456789abcdef", 4
    customer = {
        "customer_id": "c1", "customer_unique_id": "u1", "customer_zip_code_prefix": "01310",
        "customer_city": "sao paulo", "customer_state": "SP", "customer_name": "José da Silva",
        "customer_email": "Jose.Silva@Example.com", "customer_cpf": "529.982.247-25",
        "customer_phone": "(11) 91234-5678", "customer_birth_date": "1987-05-13",
    }  # fmt: skip
    typed = type_payload(
        parse_envelopes(_bronze(spark, [_envelope("customers", customer)])), CONTRACTS["customers"]
    )
    masked = mask_customers(valid_rows(typed), key, version).drop(
        "topic", "partition", "offset", "kafka_timestamp", "produced_at"
    )
    expected = spark.createDataFrame(
        [("e1", "c1", "u1", "sao paulo", "SP", "013",
          masking.token("529.982.247-25", key, version, "cpf"),
          masking.token("Jose.Silva@Example.com", key, version, "email"),
          masking.token("(11) 91234-5678", key, version, "phone"),
          "J*** d* S****", 1987)],
        "event_id STRING, customer_id STRING, customer_unique_id STRING, customer_city STRING, "
        "customer_state STRING, customer_zip3 STRING, customer_cpf_token STRING, "
        "customer_email_token STRING, customer_phone_token STRING, "
        "customer_name_masked STRING, customer_birth_year INT",
    )  # fmt: skip
    assert_df_equality(masked, expected, ignore_nullable=True)
    text = " ".join(str(v) for v in masked.collect()[0])
    for clear in ("529.982.247-25", "52998224725", "Jose.Silva", "91234-5678", "1987-05-13"):
        assert clear not in text


def test_review_texts_are_redacted(spark) -> None:
    review = {
        "review_id": "r1", "order_id": "o1", "review_score": "1",
        "review_comment_message": "Liguem (11) 91234-5678 ou jose@x.com.br, CPF 529.982.247-25",
    }  # fmt: skip
    typed = type_payload(
        parse_envelopes(_bronze(spark, [_envelope("order_reviews", review)])),
        CONTRACTS["order_reviews"],
    )
    message = redact_reviews(valid_rows(typed)).collect()[0].review_comment_message
    assert message == "Liguem [PHONE] ou [EMAIL], CPF [CPF]"


WEATHER = {
    "coord": {"lon": -46.63, "lat": -23.55}, "weather": [{"id": 500, "main": "Rain"}],
    "main": {"temp": 21.5, "humidity": 88, "pressure": 1012}, "wind": {"speed": 3.1},
    "clouds": {"all": 75}, "rain": {"1h": 0.8}, "dt": 1_700_000_000, "id": 3448439,
    "name": "São Paulo", "city_id": 3448439, "state": "SP", "capital": "São Paulo",
}  # fmt: skip


def test_weather_fields_come_from_nested_json_and_bad_values_are_quarantined(spark) -> None:
    dry = {k: v for k, v in WEATHER.items() if k != "rain"}
    values = [
        _envelope("weather", WEATHER, "wet"),
        _envelope("weather", dry, "dry"),
        _envelope("weather", {**WEATHER, "main": {"temp": 20, "humidity": 140}}, "humid"),
        _envelope("weather", {**WEATHER, "dt": "yesterday"}, "when"),
    ]
    typed = type_payload(parse_envelopes(_bronze(spark, values)), CONTRACTS["weather"])
    columns = ["event_id", "city_id", "observed_at", "state", "condition", "temp", "humidity",
               "pressure", "wind_speed", "clouds", "rain_1h"]  # fmt: skip
    at = dt.datetime.fromtimestamp(1_700_000_000, dt.UTC).replace(tzinfo=None)
    expected = spark.createDataFrame(
        [
            ("wet", 3448439, at, "SP", "Rain", 21.5, 88.0, 1012.0, 3.1, 75.0, 0.8),
            ("dry", 3448439, at, "SP", "Rain", 21.5, 88.0, 1012.0, 3.1, 75.0, None),
        ],
        "event_id STRING, city_id INT, observed_at TIMESTAMP, state STRING, condition STRING, "
        "temp DOUBLE, humidity DOUBLE, pressure DOUBLE, wind_speed DOUBLE, clouds DOUBLE, "
        "rain_1h DOUBLE",
    )
    assert_df_equality(valid_rows(typed).select(columns), expected, ignore_nullable=True)
    reasons = quarantined_rows(typed, "silver.weather").select("reason").collect()
    assert sorted(r.reason for r in reasons) == [
        "humidity above 100",
        "observed_at is not an epoch: yesterday",
    ]
