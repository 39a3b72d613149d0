"""Checks of one Olist CSV row before it is sent: the producer rejects what no later stage
could use (wrong column count, a repeated header line, missing natural key, a required number
that is not one); deeper validation (timestamps, ranges, lengths) is silver's job."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from lakehouse.registry import OlistEntity

# Numeric columns per entity; those in REQUIRED must also be present.
NUMERIC: dict[str, tuple[str, ...]] = {
    "order_items": ("order_item_id", "price", "freight_value"),
    "order_payments": ("payment_sequential", "payment_installments", "payment_value"),
    "order_reviews": ("review_score",),
    "products": (
        "product_name_lenght",
        "product_description_lenght",
        "product_photos_qty",
        "product_weight_g",
        "product_length_cm",
        "product_height_cm",
        "product_width_cm",
    ),
    "geolocation": ("geolocation_lat", "geolocation_lng"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "order_items": ("price", "freight_value"),
    "order_payments": ("payment_value",),
}


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def check_header(entity: OlistEntity, header: list[str]) -> str | None:
    """Why the header cannot be used (a natural-key column is missing), or None."""
    missing = [k for k in entity.natural_key if k not in header]
    return f"header lacks natural-key columns {missing}" if missing else None


def check_row(entity: OlistEntity, header: list[str], fields: list[str]) -> str | None:
    """Why the row must be dead-lettered, or None if it can be sent."""
    if len(fields) != len(header):
        return f"expected {len(header)} columns, got {len(fields)}"
    if fields == header:
        return "repeated header line"
    row = dict(zip(header, fields, strict=True))
    empty_keys = [k for k in entity.natural_key if not row[k].strip()]
    if empty_keys:
        return f"missing natural key {', '.join(empty_keys)}"
    for column in REQUIRED.get(entity.entity, ()):
        if column in row and not row[column].strip():
            return f"missing {column}"
    for column in NUMERIC.get(entity.entity, ()):
        value = row.get(column, "").strip()
        if value and not _is_number(value):
            return f"{column} is not a number: {value[:40]!r}"
    return None
