"""Gold transforms (pure): sales KPIs per day, state and category; monthly GMV nominal and
deflated by IPCA beside the Selic rate; daily sales per state beside the capital's weather.

GMV is the sum of item prices and never comes from an items x payments join (an order with
several payments would count its items several times).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

IPCA, SELIC_TARGET, SELIC_DAILY = 433, 432, 11
UNKNOWN = "sem_categoria"


def order_facts(orders: DataFrame, customers: DataFrame, reviews: DataFrame) -> DataFrame:
    """One row per order: purchase date, customer state, delivery days, late flag, score."""
    scores = reviews.groupBy("order_id").agg(F.avg("review_score").alias("review_score"))
    delivered = F.col("order_delivered_customer_date")
    return (
        orders.join(customers.select("customer_id", "customer_state"), "customer_id", "left")
        .join(scores, "order_id", "left")
        .select(
            "order_id",
            F.to_date("order_purchase_timestamp").alias("sale_date"),
            F.coalesce("customer_state", F.lit("??")).alias("state"),
            (
                (F.unix_timestamp(delivered) - F.unix_timestamp("order_purchase_timestamp"))
                / 86_400.0
            ).alias("delivery_days"),
            F.when(delivered.isNotNull(), delivered > F.col("order_estimated_delivery_date")).alias(
                "late"
            ),
            "review_score",
        )
    )


def daily_sales(
    orders: DataFrame,
    items: DataFrame,
    customers: DataFrame,
    products: DataFrame,
    reviews: DataFrame,
) -> DataFrame:
    """Per sale_date, state and category: orders, items, GMV, freight, average ticket, average
    delivery days, late-delivery share and average review score."""
    facts = order_facts(orders, customers, reviews)
    categories = products.select(
        "product_id", F.coalesce("product_category_name", F.lit(UNKNOWN)).alias("category")
    )
    per_order = (
        items.join(categories, "product_id", "left")
        .withColumn("category", F.coalesce("category", F.lit(UNKNOWN)))
        .groupBy("order_id", "category")
        .agg(
            F.count("*").alias("items"),
            F.sum("price").alias("gmv"),
            F.sum("freight_value").alias("freight"),
        )
    )
    return (
        per_order.join(facts, "order_id")
        .groupBy("sale_date", "state", "category")
        .agg(
            F.countDistinct("order_id").alias("orders"),
            F.sum("items").cast("long").alias("items"),
            F.sum("gmv").cast("decimal(14,2)").alias("gmv"),
            F.sum("freight").cast("decimal(14,2)").alias("freight"),
            F.avg("delivery_days").alias("avg_delivery_days"),
            F.avg(F.col("late").cast("double")).alias("late_share"),
            F.avg("review_score").alias("avg_review_score"),
        )
        .withColumn("avg_ticket", (F.col("gmv") / F.col("orders")).cast("decimal(14,2)"))
    )


def monthly_gmv(daily: DataFrame, indicators: DataFrame) -> DataFrame:
    """Per month: nominal GMV, GMV deflated by IPCA to the prices of the latest month with an
    IPCA value, the month's IPCA and the average Selic target."""
    month = F.trunc("sale_date", "month")
    gmv = daily.groupBy(month.alias("month")).agg(F.sum("gmv").alias("gmv_nominal"))
    ipca = (
        indicators.where(F.col("series_code") == IPCA)
        .select(F.trunc("date", "month").alias("month"), F.col("value").alias("ipca_pct"))
        .withColumn(
            "price_index",
            F.exp(F.sum(F.log1p(F.col("ipca_pct").cast("double") / 100)).over(
                Window.orderBy("month").rowsBetween(Window.unboundedPreceding, 0)
            )),
        )
    )  # fmt: skip
    latest = ipca.agg(F.max_by("price_index", "month").alias("base_index"))
    selic = (
        indicators.where(F.col("series_code") == SELIC_TARGET)
        .groupBy(F.trunc("date", "month").alias("month"))
        .agg(F.avg(F.col("value").cast("double")).alias("selic_target_pct"))
    )
    return (
        gmv.join(ipca, "month", "left")
        .join(selic, "month", "left")
        .crossJoin(latest)
        .select(
            "month",
            F.col("gmv_nominal").cast("decimal(16,2)").alias("gmv_nominal"),
            (F.col("gmv_nominal") * F.col("base_index") / F.col("price_index"))
            .cast("decimal(16,2)")
            .alias("gmv_real"),
            "ipca_pct",
            "selic_target_pct",
        )
    )


def sales_weather(daily: DataFrame, weather: DataFrame) -> DataFrame:
    """Per sale_date and state: orders and GMV beside the capital's mean temperature, humidity
    and rain that day (weather rows: state, observed_at, temp, humidity, rain_1h)."""
    sales = daily.groupBy("sale_date", "state").agg(
        F.sum("orders").alias("orders"), F.sum("gmv").cast("decimal(14,2)").alias("gmv")
    )
    days = weather.groupBy(
        F.to_date("observed_at").alias("sale_date"), "state"
    ).agg(
        F.avg("temp").alias("temp_avg"),
        F.avg("humidity").alias("humidity_avg"),
        F.sum(F.coalesce("rain_1h", F.lit(0.0))).alias("rain_mm"),
    )  # fmt: skip
    return sales.join(days, ["sale_date", "state"], "left")


# The columns every silver change is reduced to before gold works out what it affects.
TOUCH_SCHEMA = "entity STRING, order_id STRING, customer_id STRING, product_id STRING, day DATE"


def _touch_keys(entity: str) -> dict[str, Column]:
    purchase_day = F.to_date("order_purchase_timestamp")
    return {
        "orders": {"order_id": F.col("order_id"), "customer_id": F.col("customer_id"),
                   "day": purchase_day},
        "order_items": {"order_id": F.col("order_id"), "product_id": F.col("product_id")},
        "order_reviews": {"order_id": F.col("order_id")},
        "customers": {"customer_id": F.col("customer_id")},
        "products": {"product_id": F.col("product_id")},
        "sgs": {"day": F.col("date")},
        "weather": {"day": F.to_date("observed_at")},
    }[entity]  # fmt: skip


def touches(entity: str, changes: DataFrame) -> DataFrame:
    """A silver table's changed rows reduced to the keys gold cares about (``TOUCH_SCHEMA``):
    the order, customer, product or day each change can move a gold number of."""
    keys = _touch_keys(entity)
    kinds = (("order_id", "string"), ("customer_id", "string"), ("product_id", "string"),
             ("day", "date"))  # fmt: skip
    return changes.select(
        F.lit(entity).alias("entity"),
        *[keys.get(name, F.lit(None)).cast(kind).alias(name) for name, kind in kinds],
    )


def affected_days(touched: DataFrame, orders: DataFrame, items: DataFrame) -> DataFrame:
    """The sale dates (``sale_date``) whose daily numbers a set of touches can change: purchase
    dates of the touched orders, of the orders of touched customers and of the orders holding
    touched products, and the touched orders' own dates (a date may have moved)."""
    purchases = orders.select(
        "order_id", "customer_id", F.to_date("order_purchase_timestamp").alias("day")
    )
    entity = F.col("entity")
    order_ids = touched.where(F.col("order_id").isNotNull()).select("order_id")
    customer_ids = touched.where(entity == "customers").select("customer_id").distinct()
    product_ids = touched.where(entity == "products").select("product_id").distinct()
    order_ids = order_ids.union(items.join(product_ids, "product_id").select("order_id"))
    return (
        purchases.join(order_ids.distinct(), "order_id").select("day")
        .union(purchases.join(customer_ids, "customer_id").select("day"))
        .union(touched.where(entity == "orders").select("day"))
        .where(F.col("day").isNotNull())
        .distinct()
        .select(F.col("day").alias("sale_date"))
    )  # fmt: skip
