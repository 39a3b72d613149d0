"""Each kind of expectation compiles to SQL that counts the failing rows and samples a few, run
here on small in-memory DuckDB tables; failures read as reasons; the catalogue is consistent."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pytest

from batch.catalogue import EXPECTATIONS, GOLD, KEYS
from batch.expectations import (
    SAMPLE_SIZE,
    Expectation,
    accepted_values,
    describe_failure,
    freshness,
    in_range,
    not_null,
    references,
    to_sql,
    unique,
)

NOW = datetime(2018, 9, 1, 12, 0, tzinfo=UTC)

TABLES = """
CREATE SCHEMA gold;
CREATE SCHEMA silver;
CREATE TABLE gold.daily_sales (sale_date DATE, state VARCHAR, category VARCHAR,
                               orders BIGINT, gmv DECIMAL(14, 2), late_share DOUBLE);
INSERT INTO gold.daily_sales VALUES
    ('2017-03-31', 'SP', 'beleza_saude', 2, 179.90, 0.0),
    ('2017-03-31', 'SP', 'beleza_saude', 1, 10.00, 0.5),
    ('2017-03-31', 'RJ', 'esporte_lazer', 1, 89.00, 1.0),
    ('2017-04-01', 'RJ', NULL, 1, -5.00, 1.5),
    ('2017-04-01', 'XX', 'pet_shop', 1, 35.00, NULL);
CREATE TABLE silver.products (product_id VARCHAR);
INSERT INTO silver.products VALUES ('p1'), ('p2');
CREATE TABLE silver.order_items (order_id VARCHAR, order_item_id INT, product_id VARCHAR,
                                 produced_at TIMESTAMPTZ);
INSERT INTO silver.order_items VALUES
    ('o1', 1, 'p1', '2018-09-01 08:00:00+00'), ('o1', 2, 'p9', '2018-08-31 08:00:00+00'),
    ('o2', 1, NULL, '2018-08-30 08:00:00+00'), ('o3', 1, 'p8', '2018-08-30 09:00:00+00');
CREATE TABLE silver.empty (produced_at TIMESTAMPTZ);
"""
DAILY_KEY = ("sale_date", "state", "category")


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(TABLES)
    return connection


def run(con: duckdb.DuckDBPyConnection, e: Expectation) -> tuple[int, list[dict]]:
    """The failing rows' count and the sample, as batch.quality reads them."""
    cursor = con.execute(to_sql(e, now=NOW))
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    assert columns[0] == "failing_rows"
    return (rows[0][0] if rows else 0), [dict(zip(columns[1:], r[1:], strict=True)) for r in rows]


def test_not_null(con) -> None:
    assert run(con, not_null("gold.daily_sales", ["sale_date", "state"])) == (0, [])
    count, sample = run(con, not_null("gold.daily_sales", DAILY_KEY))
    assert count == 1
    assert sample == [{"sale_date": date(2017, 4, 1), "state": "RJ", "category": None}]


def test_unique_counts_duplicate_keys_and_their_copies(con) -> None:
    assert run(con, unique("gold.daily_sales", ["sale_date", "state", "category"]))[0] == 1
    count, sample = run(con, unique("gold.daily_sales", DAILY_KEY))
    assert sample == [
        {"sale_date": date(2017, 3, 31), "state": "SP", "category": "beleza_saude", "copies": 2}
    ]
    count, sample = run(con, unique("gold.daily_sales", ["sale_date"]))
    assert count == 2 and [r["copies"] for r in sample] == [3, 2]  # most copies first
    assert run(con, unique("silver.products", ["product_id"])) == (0, [])


def test_in_range_lets_nulls_pass(con) -> None:
    count, sample = run(con, in_range("gold.daily_sales", "gmv", minimum=0, sample=DAILY_KEY))
    assert count == 1 and sample[0]["gmv"] == -5 and sample[0]["state"] == "RJ"
    count, sample = run(con, in_range("gold.daily_sales", "late_share", minimum=0, maximum=1))
    assert (count, sample) == (1, [{"late_share": 1.5}])
    assert run(con, in_range("gold.daily_sales", "orders", maximum=2))[0] == 0


def test_accepted_values(con) -> None:
    e = accepted_values("gold.daily_sales", "state", ["SP", "RJ"], sample=["sale_date"])
    assert run(con, e) == (1, [{"sale_date": date(2017, 4, 1), "state": "XX"}])
    quoted = accepted_values("gold.daily_sales", "category", ["beleza_saude", "it's"])
    assert "'it''s'" in to_sql(quoted)
    assert run(con, accepted_values("gold.daily_sales", "orders", [1, 2]))[0] == 0


def test_references_skip_null_children(con) -> None:
    e = references(
        "silver.order_items", ["product_id"], "silver.products",
        sample=["order_id", "order_item_id"],
    )  # fmt: skip
    count, sample = run(con, e)
    assert count == 2
    assert sample == [
        {"order_id": "o1", "order_item_id": 2, "product_id": "p9"},
        {"order_id": "o3", "order_item_id": 1, "product_id": "p8"},
    ]


def test_freshness_against_the_reference_time(con) -> None:
    assert run(con, freshness("silver.order_items", "produced_at", max_age_hours=24)) == (0, [])
    count, sample = run(con, freshness("silver.order_items", "produced_at", max_age_hours=2))
    assert count == 1 and sample[0]["newest"] == datetime(2018, 9, 1, 8, tzinfo=UTC)
    assert run(con, freshness("silver.empty", "produced_at", max_age_hours=1))[0] == 1


def test_the_sample_is_bounded(con) -> None:
    count, sample = run(con, in_range("gold.daily_sales", "orders", minimum=5))
    assert count == 5 and len(sample) == SAMPLE_SIZE


def test_reasons_name_the_failing_keys(con) -> None:
    e = unique("gold.daily_sales", DAILY_KEY)
    assert e.name == "unique(sale_date, state, category)"
    assert describe_failure(e, *run(con, e)) == (
        "1 duplicate key, e.g. (2017-03-31, SP, beleza_saude) x2"
    )
    e = in_range("gold.daily_sales", "gmv", minimum=0, sample=["state"])
    assert e.name == "in_range(gmv >= 0)"
    assert describe_failure(e, *run(con, e)) == "1 row outside gmv >= 0, e.g. (RJ, -5.00)"
    e = references("silver.order_items", ["product_id"], "silver.products")
    assert e.name == "references(product_id -> silver.products(product_id))"
    assert describe_failure(e, *run(con, e)) == (
        "2 rows without a match in silver.products, e.g. p8, p9"
    )
    e = freshness("silver.empty", "produced_at", max_age_hours=1)
    assert e.name == "freshness(produced_at within 1 h)"
    assert "empty" in describe_failure(e, *run(con, e))


@pytest.mark.parametrize(
    "make",
    [
        lambda: not_null("gold.daily_sales", []),
        lambda: in_range("gold.daily_sales", "gmv"),
        lambda: accepted_values("gold.daily_sales", "state", []),
        lambda: references("silver.order_items", ["product_id"], "dw.dim_product"),
        lambda: not_null("orders", ["order_id"]),
        lambda: not_null("gold.daily_sales", ["gmv; DROP TABLE x"]),
        lambda: Expectation("gold.daily_sales", "unique", ("state",), "fatal"),  # type: ignore[arg-type]
    ],
)
def test_malformed_expectations_are_refused(make) -> None:
    with pytest.raises(ValueError):
        make()


def test_the_catalogue_is_consistent() -> None:
    names = [(e.table, e.name) for e in EXPECTATIONS]
    assert len(set(names)) == len(names)
    assert all(t in KEYS for e in EXPECTATIONS for t in e.tables if t.split(".")[0] != "dw")
    for table in ("gold.daily_sales", "gold.monthly_gmv", "gold.sales_weather"):
        critical = {e.kind for e in GOLD if e.table == table and e.severity == "critical"}
        assert {"not_null", "unique", "in_range"} <= critical, table
    assert {e.severity for e in EXPECTATIONS if e.kind in ("references", "freshness")} == {
        "warning"
    }
    assert all(e.max_age_hours for e in EXPECTATIONS if e.kind == "freshness")


def test_gold_keys_are_those_gold_merges_on() -> None:
    from streaming.gold_job import KEYS as GOLD_KEYS

    assert {f"gold.{name}": key for name, key in GOLD_KEYS.items()} == {
        t: k for t, k in KEYS.items() if t.startswith("gold.")
    }
