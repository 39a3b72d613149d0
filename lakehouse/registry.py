"""The registry of the lake's layout: Kafka topics and the S3 paths of tables and checkpoints.

Every module asks here for a name or a path; none builds one by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.settings import Settings

LAYERS = ("bronze", "silver", "gold")


@dataclass(frozen=True)
class Topic:
    """A Kafka topic and the natural key its records are keyed by."""

    name: str
    natural_key: tuple[str, ...]
    partitions: int = 3


SMOKE_TOPIC = Topic("smoke.events", ("id",), partitions=3)


@dataclass(frozen=True)
class OlistEntity:
    """One Olist CSV file: its entity name, topic and natural key (DESIGN.md section 3)."""

    entity: str
    file_name: str
    natural_key: tuple[str, ...]

    @property
    def topic(self) -> Topic:
        return Topic(f"olist.{self.entity}", self.natural_key)


# In the order a full replay sends them: dimensions first, then facts.
OLIST_ENTITIES: tuple[OlistEntity, ...] = (
    OlistEntity(
        "category_translation", "product_category_name_translation.csv", ("product_category_name",)
    ),
    OlistEntity("customers", "olist_customers_dataset.csv", ("customer_id",)),
    OlistEntity("products", "olist_products_dataset.csv", ("product_id",)),
    OlistEntity("sellers", "olist_sellers_dataset.csv", ("seller_id",)),
    OlistEntity(
        "geolocation",
        "olist_geolocation_dataset.csv",
        ("geolocation_zip_code_prefix", "geolocation_lat", "geolocation_lng"),
    ),
    OlistEntity("orders", "olist_orders_dataset.csv", ("order_id",)),
    OlistEntity("order_items", "olist_order_items_dataset.csv", ("order_id", "order_item_id")),
    OlistEntity(
        "order_payments", "olist_order_payments_dataset.csv", ("order_id", "payment_sequential")
    ),
    OlistEntity("order_reviews", "olist_order_reviews_dataset.csv", ("review_id", "order_id")),
)
BCB_TOPIC = Topic("bcb.sgs", ("series_code", "date"))
WEATHER_TOPIC = Topic("weather.current", ("city_id", "dt"))
SOURCES = ("olist", "bcb", "weather")


def dlq_topic(source: str) -> Topic:
    """``<source>.dlq``: the producer's rejects, keyed by where they came from."""
    return Topic(f"{source}.dlq", ("origin",))


def all_topics() -> list[Topic]:
    """Every topic the pipeline uses, for the admin step that creates them."""
    return [
        *(e.topic for e in OLIST_ENTITIES),
        BCB_TOPIC,
        WEATHER_TOPIC,
        *(dlq_topic(s) for s in SOURCES),
        SMOKE_TOPIC,
    ]


def pipeline_topics() -> list[str]:
    """The topics the streaming application ingests: every registry topic but the smoke
    test's."""
    return [t.name for t in all_topics() if t.name != SMOKE_TOPIC.name]


# bronze is ONE Delta table for every pipeline topic; ``bronze.<topic>`` (``bronze.olist_orders``)
# names that topic's rows of it.
BRONZE_EVENTS = "events"


def bronze_topic(name: str) -> str | None:
    """The registry topic whose rows the bronze name ``name`` (``olist_orders``) selects from
    bronze.events; None for ``events`` itself. An unknown name is an error."""
    if name == BRONZE_EVENTS:
        return None
    topics = {t.replace(".", "_"): t for t in pipeline_topics()}
    if name not in topics:
        raise ValueError(f"no bronze.{name}: bronze holds {', '.join(sorted(topics))}")
    return topics[name]


def kafka_topic(settings: Settings, name: str) -> str:
    """The broker's name of a registry topic: ``<namespace>.<name>`` in a namespace."""
    return f"{settings.namespace}.{name}" if settings.namespace else name


def table_path(settings: Settings, layer: str, name: str) -> str:
    """``s3a://<bucket>/<layer>/<name>`` for a Delta table of the lake."""
    if layer not in LAYERS and layer != "smoke":
        raise ValueError(f"unknown layer {layer!r}; expected one of {LAYERS}")
    return f"{settings.lake_root}/{layer}/{name.replace('.', '_')}"


def cold_path(settings: Settings, layer: str, name: str) -> str:
    """``s3a://<bucket>/cold/<layer>/<name>``: where lifecycle moves a table's old partitions
    (a prefix a bucket lifecycle rule can move to a cheaper storage class)."""
    return table_path(settings, layer, name).replace(
        f"{settings.lake_root}/", f"{settings.lake_root}/cold/", 1
    )


def checkpoint_path(settings: Settings, query_name: str) -> str:
    """``s3a://<bucket>/_checkpoints/<query>``: one checkpoint folder per streaming query."""
    return f"{settings.lake_root}/_checkpoints/{query_name}"
