"""What silver expects of each entity's payload: typed fields, which are required, and the
range of the numbers (DESIGN.md sections 3 and 4). Pure data; the transforms read it."""

from __future__ import annotations

from dataclasses import dataclass

TIMESTAMP_FORMAT = "yyyy-MM-dd HH:mm:ss"
DATE_FORMAT = "yyyy-MM-dd"
SCHEMA_VERSION = 1  # the envelope version silver reads (producers/envelope.py writes it)
# Larger record values go to the quarantine unparsed: parsing a crafted record of megabytes
# would hold up every batch behind it. At Kafka's default largest record (about 1 MB), so a
# value a default broker accepts is parsed and gets the reason of the field at fault.
MAX_VALUE_BYTES = 1024 * 1024
# Longest accepted text: identifiers, names and codes are short (and the warehouse indexes
# many of them: a B-tree entry holds at most about 2.7 kB); free texts get more room.
STRING_MAX_CHARS = 256
TEXT_MAX_CHARS = 10_000


@dataclass(frozen=True)
class Field:
    """A payload field. ``kind``: string, int, money (decimal 12,2), rate (decimal 18,6),
    double, timestamp (``TIMESTAMP_FORMAT``), date (``DATE_FORMAT``, or a timestamp), epoch
    (unix seconds -> timestamp). ``path``: where the value is when not at the payload's top
    level under ``name``: ``"main.temp"``, ``"weather[0].main"``. ``max_length``: the most
    characters a string may have."""

    name: str
    kind: str = "string"
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    path: str | None = None
    max_length: int | None = None


@dataclass(frozen=True)
class Contract:
    """An entity's silver contract: its fields, natural key and whether rows change (upsert)."""

    entity: str
    fields: tuple[Field, ...]
    natural_key: tuple[str, ...]
    changes: bool = False


def _f(name: str, kind: str = "string", *, req: bool = False, lo: float | None = None,
       hi: float | None = None, path: str | None = None, text: bool = False) -> Field:  # fmt: skip
    """A field; strings are bounded by ``STRING_MAX_CHARS`` (``TEXT_MAX_CHARS`` if ``text``)."""
    longest = (TEXT_MAX_CHARS if text else STRING_MAX_CHARS) if kind == "string" else None
    return Field(name, kind, req, lo, hi, path, longest)


CONTRACTS: dict[str, Contract] = {
    c.entity: c
    for c in (
        Contract(
            "orders",
            (
                _f("order_id", req=True),
                _f("customer_id", req=True),
                _f("order_status", req=True),
                _f("order_purchase_timestamp", "timestamp", req=True),
                _f("order_approved_at", "timestamp"),
                _f("order_delivered_carrier_date", "timestamp"),
                _f("order_delivered_customer_date", "timestamp"),
                _f("order_estimated_delivery_date", "timestamp"),
            ),
            ("order_id",),
            changes=True,
        ),
        Contract(
            "order_items",
            (
                _f("order_id", req=True),
                _f("order_item_id", "int", req=True, lo=1),
                _f("product_id", req=True),
                _f("seller_id", req=True),
                _f("shipping_limit_date", "timestamp"),
                _f("price", "money", req=True, lo=0),
                _f("freight_value", "money", req=True, lo=0),
            ),
            ("order_id", "order_item_id"),
        ),
        Contract(
            "order_payments",
            (
                _f("order_id", req=True),
                _f("payment_sequential", "int", req=True, lo=1),
                _f("payment_type", req=True),
                _f("payment_installments", "int", lo=0),
                _f("payment_value", "money", req=True, lo=0),
            ),
            ("order_id", "payment_sequential"),
        ),
        Contract(
            "order_reviews",
            (
                _f("review_id", req=True),
                _f("order_id", req=True),
                _f("review_score", "int", req=True, lo=1, hi=5),
                _f("review_comment_title", text=True),
                _f("review_comment_message", text=True),
                _f("review_creation_date", "timestamp"),
                _f("review_answer_timestamp", "timestamp"),
            ),
            ("review_id", "order_id"),
        ),
        Contract(
            "customers",
            (
                _f("customer_id", req=True),
                _f("customer_unique_id", req=True),
                _f("customer_zip_code_prefix"),
                _f("customer_city"),
                _f("customer_state"),
                _f("customer_name"),
                _f("customer_email"),
                _f("customer_cpf"),
                _f("customer_phone"),
                _f("customer_birth_date", "date"),
            ),
            ("customer_id",),
            changes=True,
        ),
        Contract(
            "products",
            (
                _f("product_id", req=True),
                _f("product_category_name"),
                _f("product_name_lenght", "int", lo=0),
                _f("product_description_lenght", "int", lo=0),
                _f("product_photos_qty", "int", lo=0),
                _f("product_weight_g", "int", lo=0),
                _f("product_length_cm", "int", lo=0),
                _f("product_height_cm", "int", lo=0),
                _f("product_width_cm", "int", lo=0),
            ),
            ("product_id",),
            changes=True,
        ),
        Contract(
            "sellers",
            (
                _f("seller_id", req=True),
                _f("seller_zip_code_prefix"),
                _f("seller_city"),
                _f("seller_state"),
            ),
            ("seller_id",),
            changes=True,
        ),
        Contract(
            "category_translation",
            (_f("product_category_name", req=True), _f("product_category_name_english")),
            ("product_category_name",),
            changes=True,
        ),
        Contract(
            "geolocation",
            (
                _f("geolocation_zip_code_prefix", req=True),
                _f("geolocation_lat", "double", req=True, lo=-90, hi=90),
                _f("geolocation_lng", "double", req=True, lo=-180, hi=180),
                _f("geolocation_city"),
                _f("geolocation_state"),
            ),
            ("geolocation_zip_code_prefix", "geolocation_lat", "geolocation_lng"),
        ),
        Contract(
            "sgs",
            (
                _f("series_code", "int", req=True),
                _f("date", "date", req=True),
                _f("value", "rate", req=True),
            ),
            ("series_code", "date"),
        ),
        Contract(  # the OpenWeather answer (nested JSON) plus the poller's city_id and state
            "weather",
            (
                _f("city_id", "int", req=True),
                _f("observed_at", "epoch", req=True, path="dt"),
                _f("state", req=True),
                _f("capital"),
                _f("condition", path="weather[0].main"),
                _f("temp", "double", lo=-90, hi=60, path="main.temp"),
                _f("humidity", "double", lo=0, hi=100, path="main.humidity"),
                _f("pressure", "double", lo=0, path="main.pressure"),
                _f("wind_speed", "double", lo=0, path="wind.speed"),
                _f("clouds", "double", lo=0, hi=100, path="clouds.all"),
                _f("rain_1h", "double", lo=0, path="rain.1h"),
            ),
            ("city_id", "observed_at"),
        ),
    )
}
