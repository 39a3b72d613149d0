"""The catalogue of expectations: every quality gate of silver, gold and the warehouse, as data.

Severities: a key that is missing or repeated is ``critical`` (it breaks every join and
double-counts), and so is a negative amount of money (it corrupts GMV, freight and payment
figures). Ranges, accepted values, referential integrity and freshness are ``warning``: they
are reported but stop nothing. A critical failure of a gold table stops its promotion into the
warehouse (``batch/promote.py``).

To add an expectation, add a line below; ``lakehouse batch quality`` runs it from then on.
"""

from __future__ import annotations

from batch.expectations import (
    Expectation,
    accepted_values,
    freshness,
    in_range,
    not_null,
    references,
    unique,
)
from streaming.contracts import CONTRACTS

STATES = (
    "AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA",
    "PB", "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO",
)  # fmt: skip
UNKNOWN_STATE = "??"  # gold's state of an order whose customer is not known yet
ORDER_STATUSES = (
    "created", "approved", "invoiced", "processing", "shipped", "delivered", "canceled",
    "unavailable",
)  # fmt: skip
PAYMENT_TYPES = ("credit_card", "boleto", "voucher", "debit_card", "not_defined")
SGS_SERIES = (433, 432, 11)
FRESH_HOURS = 24

# The key of every table checked: what identifies a failing row in its sample.
KEYS: dict[str, tuple[str, ...]] = {
    **{f"silver.{c.entity}": c.natural_key for c in CONTRACTS.values()},
    "gold.daily_sales": ("sale_date", "state", "category"),
    "gold.monthly_gmv": ("month",),
    "gold.sales_weather": ("sale_date", "state"),
    "dw.fct_order": ("order_id",),
    "dw.fct_order_item": ("order_id", "order_item_id"),
    "dw.fct_payment": ("order_id", "payment_sequential"),
    "dw.fct_review": ("review_id", "order_id"),
    "dw.fct_weather": ("state", "date_key"),
    "dw.dim_customer": ("customer_id",),
    "dw.dim_product": ("product_id",),
    "dw.dim_seller": ("seller_id",),
    "dw.agg_daily_sales": ("sale_date", "state", "category"),
    "dw.agg_monthly_gmv": ("month",),
    "dw.agg_sales_weather": ("sale_date", "state"),
}


def key_is_complete(table: str) -> list[Expectation]:
    """The table's key: not null and unique (both critical)."""
    return [not_null(table, KEYS[table]), unique(table, KEYS[table])]


def money(table: str, *columns: str) -> list[Expectation]:
    """Amounts of money that are never negative (critical: they feed every money figure)."""
    return [in_range(table, c, minimum=0, severity="critical", sample=KEYS[table]) for c in columns]


def warn_range(
    table: str, column: str, minimum: float | None = None, maximum: float | None = None
) -> Expectation:
    """A warning when ``column`` leaves ``minimum``..``maximum``."""
    return in_range(table, column, minimum=minimum, maximum=maximum, sample=KEYS[table])


def warn_values(table: str, column: str, values: tuple[str | int, ...]) -> Expectation:
    """A warning when ``column`` takes a value outside ``values``."""
    return accepted_values(table, column, values, sample=KEYS[table])


def warn_reference(table: str, column: str, parent: str, parent_column: str = "") -> Expectation:
    """A warning when ``column`` names no row of ``parent`` (by ``parent_column``, default the
    same name)."""
    return references(table, [column], parent, [parent_column or column], sample=KEYS[table])


SILVER: list[Expectation] = [
    *(e for c in CONTRACTS.values() for e in key_is_complete(f"silver.{c.entity}")),
    *money("silver.order_items", "price", "freight_value"),
    *money("silver.order_payments", "payment_value"),
    warn_values("silver.orders", "order_status", ORDER_STATUSES),
    warn_values("silver.order_payments", "payment_type", PAYMENT_TYPES),
    warn_values("silver.customers", "customer_state", STATES),
    warn_values("silver.sgs", "series_code", SGS_SERIES),
    warn_values("silver.weather", "state", STATES),
    warn_range("silver.order_reviews", "review_score", 1, 5),
    warn_reference("silver.orders", "customer_id", "silver.customers"),
    warn_reference("silver.order_items", "order_id", "silver.orders"),
    warn_reference("silver.order_items", "product_id", "silver.products"),
    warn_reference("silver.order_items", "seller_id", "silver.sellers"),
    warn_reference("silver.order_payments", "order_id", "silver.orders"),
    warn_reference("silver.order_reviews", "order_id", "silver.orders"),
    warn_reference(
        "silver.products", "product_category_name", "silver.category_translation"
    ),  # Olist has a few categories without a translation
    freshness("silver.orders", "produced_at", max_age_hours=FRESH_HOURS),
]

GOLD: list[Expectation] = [
    *key_is_complete("gold.daily_sales"),
    *money("gold.daily_sales", "gmv", "freight", "avg_ticket"),
    warn_range("gold.daily_sales", "orders", 1),
    warn_range("gold.daily_sales", "items", 1),
    warn_range("gold.daily_sales", "late_share", 0, 1),
    warn_range("gold.daily_sales", "avg_review_score", 1, 5),
    warn_range("gold.daily_sales", "avg_delivery_days", 0),
    warn_values("gold.daily_sales", "state", (*STATES, UNKNOWN_STATE)),
    *key_is_complete("gold.monthly_gmv"),
    *money("gold.monthly_gmv", "gmv_nominal"),
    warn_range("gold.monthly_gmv", "gmv_real", 0),
    *key_is_complete("gold.sales_weather"),
    *money("gold.sales_weather", "gmv"),
    warn_range("gold.sales_weather", "orders", 0),
    warn_range("gold.sales_weather", "humidity_avg", 0, 100),
    warn_range("gold.sales_weather", "rain_mm", 0),
    warn_values("gold.sales_weather", "state", (*STATES, UNKNOWN_STATE)),
]

# The warehouse's primary keys and foreign keys are constraints already; these check what the
# constraints cannot (facts whose order header never arrived, inferred members, ranges).
WAREHOUSE: list[Expectation] = [
    *money("dw.fct_order_item", "price", "freight_value"),
    *money("dw.fct_payment", "payment_value"),
    warn_reference("dw.fct_order_item", "order_id", "dw.fct_order"),
    warn_reference("dw.fct_payment", "order_id", "dw.fct_order"),
    warn_reference("dw.fct_review", "order_id", "dw.fct_order"),
    warn_values("dw.fct_order", "order_status", ORDER_STATUSES),
    warn_range("dw.fct_order", "delivery_days", 0),
    warn_values("dw.dim_product", "is_inferred", (False,)),
    warn_values("dw.dim_seller", "is_inferred", (False,)),
    warn_values("dw.dim_customer", "is_inferred", (False,)),
    warn_range("dw.fct_weather", "humidity_avg", 0, 100),
    freshness("dw.fct_order", "updated_at", max_age_hours=FRESH_HOURS),
    *money("dw.agg_daily_sales", "gmv", "freight"),
    *money("dw.agg_monthly_gmv", "gmv_nominal"),
]

EXPECTATIONS: tuple[Expectation, ...] = (*SILVER, *GOLD, *WAREHOUSE)
