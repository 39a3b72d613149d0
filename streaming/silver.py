"""Silver transforms (pure ``DataFrame -> DataFrame``): parse the envelope of bronze rows, type
each entity's payload by its contract, collect every reason a row fails, split good rows from
quarantined ones, and mask personal data. Good + quarantined = bronze, always."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from security import spark_masking as sm
from streaming.contracts import TIMESTAMP_FORMAT, Contract, Field

ENVELOPE_SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("source", T.StringType()),
        T.StructField("entity", T.StringType()),
        T.StructField("schema_version", T.IntegerType()),
        T.StructField("produced_at", T.LongType()),
        T.StructField("payload", T.MapType(T.StringType(), T.StringType())),
    ]
)
COORDINATES = ("topic", "partition", "offset", "kafka_timestamp")
SPARK_TYPES = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "money": T.DecimalType(12, 2),
    "rate": T.DecimalType(18, 6),
    "double": T.DoubleType(),
}
QUARANTINE_COLUMNS = (
    "raw_value", "topic", "partition", "offset", "kafka_timestamp", "stage", "reason", "seen_at"
)  # fmt: skip


def parse_envelopes(bronze: DataFrame) -> DataFrame:
    """Bronze rows with the envelope's fields and ``_errors`` (empty when the value is a
    well-formed envelope)."""
    parsed = bronze.withColumn("_env", F.from_json("value", ENVELOPE_SCHEMA))
    envelope_problems = F.array_compact(
        F.array(
            F.when(F.col("_env.event_id").isNull(), F.lit("envelope lacks event_id")),
            F.when(F.col("_env.payload").isNull(), F.lit("envelope lacks payload")),
        )
    )
    # from_json yields a struct of nulls for malformed JSON; try_parse_json tells them apart.
    problems = F.when(
        F.try_parse_json("value").isNull(), F.array(F.lit("value is not valid JSON"))
    ).otherwise(envelope_problems)
    return parsed.select(
        *COORDINATES,
        F.col("value").alias("raw_value"),
        F.col("_env.event_id").alias("event_id"),
        F.col("_env.source").alias("source"),
        F.col("_env.entity").alias("entity"),
        F.col("_env.produced_at").alias("produced_at"),
        F.col("_env.payload").alias("payload"),
        problems.alias("_errors"),
    )


def _raw(field: Field) -> Column:
    """The field's text: ``payload[name]``, or the JSON path ``field.path`` inside the payload
    (nested objects arrive as JSON text in the payload map)."""
    top, _, rest = (field.path or field.name).partition(".")
    top, bracket, index = top.partition("[")
    value = F.col("payload").getItem(top)
    if bracket or rest:
        inner = f"[{index}" if bracket else ""
        inner += f".{rest}" if rest else ""
        value = F.get_json_object(value, f"${inner}")
    value = F.trim(value)
    return F.when(value != "", value)


def _typed(field: Field, raw: Column) -> Column:
    if field.kind == "timestamp":
        return F.try_to_timestamp(raw, F.lit(TIMESTAMP_FORMAT))
    if field.kind == "epoch":
        return F.timestamp_seconds(raw.try_cast("long"))
    if field.kind == "date":
        return F.to_date(F.try_to_timestamp(F.substring(raw, 1, 10), F.lit("yyyy-MM-dd")))
    return raw.try_cast(SPARK_TYPES[field.kind])


def _problems(field: Field, raw: Column, typed: Column) -> list[Column]:
    name = field.name
    problems = [F.when(raw.isNotNull() & typed.isNull(), F.concat(
        F.lit(f"{name} is not {'an' if field.kind[0] in 'aeiou' else 'a'} {field.kind}: "),
        F.substring(raw, 1, 40),
    ))]  # fmt: skip
    if field.required:
        problems.append(F.when(raw.isNull(), F.lit(f"missing {name}")))
    if field.minimum is not None:
        problems.append(F.when(typed < field.minimum, F.lit(f"{name} below {field.minimum:g}")))
    if field.maximum is not None:
        problems.append(F.when(typed > field.maximum, F.lit(f"{name} above {field.maximum:g}")))
    return problems


def type_payload(envelopes: DataFrame, contract: Contract) -> DataFrame:
    """Typed columns of ``contract`` from the payload, and every reason the row fails added to
    ``_errors``. Keeps the coordinates, event id and produced_at."""
    columns, problems = [], []
    for field in contract.fields:
        raw = _raw(field)
        typed = _typed(field, raw)
        columns.append(typed.alias(field.name))
        problems += _problems(field, raw, typed)
    errors = F.when(
        F.size("_errors") > 0, F.col("_errors")
    ).otherwise(F.array_compact(F.array(*problems)))  # fmt: skip
    return envelopes.select(
        *COORDINATES,
        "raw_value",
        "event_id",
        F.timestamp_millis("produced_at").alias("produced_at"),
        *columns,
        errors.alias("_errors"),
    )


def valid_rows(typed: DataFrame) -> DataFrame:
    """The rows without errors, without the helper column."""
    return typed.where(F.size("_errors") == 0).drop("_errors", "raw_value")


def quarantined_rows(typed: DataFrame, stage: str, seen_at: Column | None = None) -> DataFrame:
    """The rows with errors, as silver.quarantine rows: raw value, coordinates, stage, reason."""
    return typed.where(F.size("_errors") > 0).select(
        "raw_value",
        *COORDINATES,
        F.lit(stage).alias("stage"),
        F.array_join("_errors", "; ").alias("reason"),
        (seen_at if seen_at is not None else F.current_timestamp()).alias("seen_at"),
    )


def mask_customers(customers: DataFrame, key: bytes, key_version: int) -> DataFrame:
    """Direct identifiers replaced by keyed tokens and display masks; zip prefix -> 3 digits;
    birth date -> year. No clear personal data leaves this function."""
    return customers.select(
        *[c for c in customers.columns if not c.startswith("customer_") or c in KEEP_CUSTOMER],
        sm.generalise_zip_col("customer_zip_code_prefix").alias("customer_zip3"),
        sm.token_col("customer_cpf", key, key_version, kind="cpf").alias("customer_cpf_token"),
        sm.token_col("customer_email", key, key_version, kind="email").alias(
            "customer_email_token"
        ),
        sm.token_col("customer_phone", key, key_version, kind="phone").alias(
            "customer_phone_token"
        ),
        sm.mask_name_col("customer_name").alias("customer_name_masked"),
        sm.birth_year_col("customer_birth_date").alias("customer_birth_year"),
    )


KEEP_CUSTOMER = ("customer_id", "customer_unique_id", "customer_city", "customer_state")


def redact_reviews(reviews: DataFrame) -> DataFrame:
    """E-mails, phone numbers and CPFs inside review texts replaced by labels."""
    return reviews.withColumns(
        {c: sm.redact_text_col(c) for c in ("review_comment_title", "review_comment_message")}
    )
