"""Silver transforms (pure ``DataFrame -> DataFrame``): parse the envelope of bronze rows, type
each entity's payload by its contract, collect every reason a row fails, split good rows from
quarantined ones, and mask personal data. Good + quarantined = bronze, always."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from pyspark import SparkContext
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from security import spark_masking as sm
from streaming.contracts import (
    DATE_FORMAT,
    MAX_VALUE_BYTES,
    SCHEMA_VERSION,
    TIMESTAMP_FORMAT,
    Contract,
    Field,
)

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
R = TypeVar("R")


def per_jvm(build: Callable[..., R]) -> Callable[..., R]:
    """Memoise a function that builds Column expressions from hashable arguments, per JVM.
    Expressions are unresolved, so every micro-batch's frames can share them, and building one
    entity's (parse, type, check, mask) costs thousands of py4j round trips: about 0.3 s an
    entity, every batch."""
    built: dict[tuple[Any, ...], R] = {}

    @wraps(build)
    def cached(*args: Any) -> R:
        key = (id(SparkContext._gateway), *args)
        if key not in built:
            built[key] = build(*args)
        return built[key]

    return cached


QUARANTINE_COLUMNS = (
    "raw_value", "topic", "partition", "offset", "kafka_timestamp", "stage", "reason", "seen_at"
)  # fmt: skip


def _first_duplicate(keys: Column) -> Column:
    """A name that occurs more than once in the array ``keys`` (the smallest; null if none).
    The keys sorted once, then one pass comparing each with the one before: n log n, where
    comparing every key with every other took minutes for a record of 16,000 keys."""
    nothing = F.lit(None).cast("string")
    seen = F.struct(nothing.alias("last"), nothing.alias("dup"))
    found = F.aggregate(
        F.array_sort(keys),
        seen,
        lambda acc, key: F.struct(
            key.alias("last"),
            F.coalesce(acc["dup"], F.when(key == acc["last"], key)).alias("dup"),
        ),
        lambda acc: acc["dup"],
    )
    return F.when(F.size(F.array_distinct(keys)) < F.size(keys), found)


def _json_token(value: Column, name: str) -> Column:
    """The JSON text of the envelope's field ``name`` (strings keep their quotes), cut at 40."""
    token = F.to_json(F.try_variant_get(F.try_parse_json(value), f"$.{name}", "variant"))
    return F.substring(token, 1, 40)


def _envelope_problems(value: Column, env: Column) -> Column:
    """Why ``value`` is not a usable envelope, by the first level that fails: too large to
    parse (``MAX_VALUE_BYTES``), not JSON (or a
    duplicate key, which JSON readers settle differently: Spark's keeps the last, a JSON path
    the first), not an object, no event id or payload, an unsupported schema version or a
    produced_at that is not epoch milliseconds. Empty when it is usable. The costly checks
    run only for values that fail the cheap ones."""
    payload_text = F.get_json_object(value, "$.payload")
    duplicate = F.coalesce(
        _first_duplicate(F.json_object_keys(value)),
        F.concat(F.lit("payload."), _first_duplicate(F.json_object_keys(payload_text))),
    )
    not_json = F.when(duplicate.isNotNull(), F.concat(F.lit("duplicate key "), duplicate))
    structure = F.array_compact(
        F.array(
            F.when(
                F.coalesce(F.trim(env.getField("event_id")), F.lit("")) == "",
                F.lit("envelope lacks event_id"),
            ),
            F.when(
                env.getField("payload").isNull(),
                F.when(payload_text.isNull(), F.lit("envelope lacks payload")).otherwise(
                    F.lit("payload is not a JSON object")
                ),
            ),
        )
    )
    version = F.array_compact(
        F.array(
            F.when(
                F.coalesce(env.getField("schema_version") != SCHEMA_VERSION, F.lit(True)),
                F.when(
                    F.get_json_object(value, "$.schema_version").isNull(),
                    F.lit("envelope lacks schema_version"),
                ).otherwise(
                    F.concat(
                        F.lit(f"unsupported schema_version (expected {SCHEMA_VERSION}): "),
                        _json_token(value, "schema_version"),
                    )
                ),
            ),
            F.when(
                env.getField("produced_at").isNull(),
                F.when(
                    F.get_json_object(value, "$.produced_at").isNull(),
                    F.lit("envelope lacks produced_at"),
                ).otherwise(
                    F.concat(
                        F.lit("produced_at is not epoch milliseconds: "),
                        _json_token(value, "produced_at"),
                    )
                ),
            ),
        )
    )
    return (
        F.when(
            F.octet_length(value) > MAX_VALUE_BYTES,
            F.array(F.lit(f"value is larger than {MAX_VALUE_BYTES // 1024} KiB")),
        )
        .when(
            F.try_parse_json(value).isNull(),
            F.array(F.coalesce(not_json, F.lit("value is not valid JSON"))),
        )
        .when(
            F.size(structure) > 0,
            F.when(
                F.json_object_keys(value).isNull(), F.array(F.lit("value is not a JSON object"))
            ).otherwise(structure),
        )
        .otherwise(version)
    )


@per_jvm
def _envelope_columns() -> tuple[Column, list[Column]]:
    """The parsed envelope, and the columns ``parse_envelopes`` selects from it."""
    parsed = F.when(F.octet_length("value") <= MAX_VALUE_BYTES, F.col("value"))
    return F.from_json(parsed, ENVELOPE_SCHEMA), [
        *[F.col(c) for c in COORDINATES],
        F.col("value").alias("raw_value"),
        F.col("_env.event_id").alias("event_id"),
        F.col("_env.source").alias("source"),
        F.col("_env.entity").alias("entity"),
        F.col("_env.produced_at").alias("produced_at"),
        F.col("_env.payload").alias("payload"),
        _envelope_problems(F.col("value"), F.col("_env")).alias("_errors"),
    ]


def parse_envelopes(bronze: DataFrame) -> DataFrame:
    """Bronze rows with the envelope's fields and ``_errors`` (empty when the value is a
    well-formed envelope, see ``_envelope_problems``)."""
    envelope, columns = _envelope_columns()
    return bronze.withColumn("_env", envelope).select(*columns)


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
        return F.to_date(
            F.coalesce(
                F.try_to_timestamp(raw, F.lit(DATE_FORMAT)),
                F.try_to_timestamp(raw, F.lit(TIMESTAMP_FORMAT)),
            )
        )
    return raw.try_cast(SPARK_TYPES[field.kind])


# named in the reason of a value in another format
FORMAT_HINT = {"timestamp": f" (expected {TIMESTAMP_FORMAT})", "date": f" (expected {DATE_FORMAT})"}


def _problems(field: Field, raw: Column, typed: Column) -> list[Column]:
    name, kind = field.name, field.kind
    article = "an" if kind[0] in "aeiou" else "a"
    problems = [F.when(raw.isNotNull() & typed.isNull(), F.concat(
        F.lit(f"{name} is not {article} {kind}{FORMAT_HINT.get(kind, '')}: "),
        F.substring(raw, 1, 40),
    ))]  # fmt: skip
    if kind == "string":
        problems += _string_problems(field, raw)
    if field.required:
        problems.append(F.when(raw.isNull(), F.lit(f"missing {name}")))
    if field.minimum is not None:
        problems.append(F.when(typed < field.minimum, F.lit(f"{name} below {field.minimum:g}")))
    if field.maximum is not None:
        problems.append(F.when(typed > field.maximum, F.lit(f"{name} above {field.maximum:g}")))
    return problems


def _string_problems(field: Field, raw: Column) -> list[Column]:
    """A JSON object or array where text belongs (the payload map holds it as JSON text), a
    NUL character (PostgreSQL text cannot hold one), more than ``max_length`` characters."""
    name = field.name
    structured = F.when(
        raw.startswith("{") | raw.startswith("["),
        F.json_object_keys(raw).isNotNull() | F.json_array_length(raw).isNotNull(),
    )
    problems = [
        F.when(structured, F.concat(F.lit(f"{name} is not a string: "), F.substring(raw, 1, 40))),
        F.when(F.instr(raw, "\u0000") > 0, F.lit(f"{name} contains a NUL character")),
    ]
    if field.max_length is not None:
        problems.append(
            F.when(
                F.length(raw) > field.max_length,
                F.lit(f"{name} longer than {field.max_length} characters"),
            )
        )
    return problems


@per_jvm
def _typing_columns(contract: Contract) -> tuple[list[Column], list[Column], list[Column]]:
    """The three projections of ``type_payload``: each field's text, its typed value, and the
    typed row with every reason it fails."""
    kept = [F.col(c) for c in (*COORDINATES, "raw_value", "event_id", "produced_at", "_errors")]
    raws = [F.col(f"_raw_{i}") for i in range(len(contract.fields))]
    texts = [*kept, *[_raw(f).alias(f"_raw_{i}") for i, f in enumerate(contract.fields)]]
    typed = [_typed(f, r).alias(f.name) for f, r in zip(contract.fields, raws, strict=True)]
    problems = [
        problem
        for field, raw in zip(contract.fields, raws, strict=True)
        for problem in _problems(field, raw, F.col(field.name))
    ]
    errors = F.when(
        F.size("_errors") > 0, F.col("_errors")
    ).otherwise(F.array_compact(F.array(*problems)))  # fmt: skip
    checked = [
        *[F.col(c) for c in (*COORDINATES, "raw_value", "event_id")],
        F.timestamp_millis("produced_at").alias("produced_at"),
        *[F.col(f.name) for f in contract.fields],
        errors.alias("_errors"),
    ]
    return texts, [*kept, *raws, *typed], checked


def type_payload(envelopes: DataFrame, contract: Contract) -> DataFrame:
    """Typed columns of ``contract`` from the payload, and every reason the row fails added to
    ``_errors``. Keeps the coordinates, event id and produced_at. Each field's text and typed
    value are computed once, in projections of their own, as every check reads them."""
    texts, typed, checked = _typing_columns(contract)
    return envelopes.select(*texts).select(*typed).select(*checked)


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
    kept = [c for c in customers.columns if not c.startswith("customer_") or c in KEEP_CUSTOMER]
    return customers.select(*kept, *_masked_customer_columns(bytes(key), key_version))


@per_jvm
def _masked_customer_columns(key: bytes, key_version: int) -> list[Column]:
    return [
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
    ]


KEEP_CUSTOMER = ("customer_id", "customer_unique_id", "customer_city", "customer_state")


def redact_reviews(reviews: DataFrame) -> DataFrame:
    """E-mails, phone numbers and CPFs inside review texts replaced by labels."""
    return reviews.withColumns(_redacted_review_columns())


@per_jvm
def _redacted_review_columns() -> dict[str, Column]:
    return {c: sm.redact_text_col(c) for c in ("review_comment_title", "review_comment_message")}
