-- Facts that arrive before their dimension rows keep their keys: the dimension gets an
-- inferred row (is_inferred), which the real row replaces when it comes.
WITH products AS (
    INSERT INTO dw.dim_product (product_id, is_inferred)
    SELECT DISTINCT product_id, true FROM stage_order_items
    ON CONFLICT DO NOTHING
    RETURNING 1
),
sellers AS (
    INSERT INTO dw.dim_seller (seller_id, is_inferred)
    SELECT DISTINCT seller_id, true FROM stage_order_items
    ON CONFLICT DO NOTHING
    RETURNING 1
),
customers AS (
    INSERT INTO dw.dim_customer (customer_id, is_inferred)
    SELECT DISTINCT customer_id, true FROM stage_orders
    WHERE customer_id IS NOT NULL  -- null: erased (LGPD)
    ON CONFLICT DO NOTHING
    RETURNING 1
),
payment_types AS (
    INSERT INTO dw.dim_payment_type (payment_type, is_inferred)
    SELECT DISTINCT payment_type, true FROM stage_order_payments
    ON CONFLICT DO NOTHING
    RETURNING 1
),
indicators AS (
    INSERT INTO dw.dim_indicator (series_code, is_inferred)
    SELECT DISTINCT series_code, true FROM stage_sgs
    ON CONFLICT DO NOTHING
    RETURNING 1
),
states AS (
    INSERT INTO dw.dim_geography (state, is_inferred)
    SELECT DISTINCT state, true FROM stage_weather
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM products) + (SELECT count(*) FROM sellers)
     + (SELECT count(*) FROM customers) + (SELECT count(*) FROM payment_types)
     + (SELECT count(*) FROM indicators) + (SELECT count(*) FROM states)
