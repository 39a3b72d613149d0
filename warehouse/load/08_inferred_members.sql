-- Facts that arrive before their dimension rows keep their keys: the dimension gets an
-- inferred row (is_inferred), which the real row replaces when it comes.
WITH wanted AS (
    SELECT l.entity, l.row FROM latest AS l WHERE NOT l.deleted
),
products AS (
    INSERT INTO dw.dim_product (product_id, is_inferred)
    SELECT DISTINCT row ->> 'product_id', true FROM wanted WHERE entity = 'order_items'
    ON CONFLICT DO NOTHING
    RETURNING 1
),
sellers AS (
    INSERT INTO dw.dim_seller (seller_id, is_inferred)
    SELECT DISTINCT row ->> 'seller_id', true FROM wanted WHERE entity = 'order_items'
    ON CONFLICT DO NOTHING
    RETURNING 1
),
customers AS (
    INSERT INTO dw.dim_customer (customer_id, is_inferred)
    SELECT DISTINCT row ->> 'customer_id', true FROM wanted
    WHERE entity = 'orders' AND row ->> 'customer_id' IS NOT NULL  -- null: erased (LGPD)
    ON CONFLICT DO NOTHING
    RETURNING 1
),
payment_types AS (
    INSERT INTO dw.dim_payment_type (payment_type, is_inferred)
    SELECT DISTINCT row ->> 'payment_type', true FROM wanted WHERE entity = 'order_payments'
    ON CONFLICT DO NOTHING
    RETURNING 1
),
indicators AS (
    INSERT INTO dw.dim_indicator (series_code, is_inferred)
    SELECT DISTINCT (row ->> 'series_code')::int, true FROM wanted WHERE entity = 'sgs'
    ON CONFLICT DO NOTHING
    RETURNING 1
),
states AS (
    INSERT INTO dw.dim_geography (state, is_inferred)
    SELECT DISTINCT row ->> 'state', true FROM wanted WHERE entity = 'weather'
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM products) + (SELECT count(*) FROM sellers)
     + (SELECT count(*) FROM customers) + (SELECT count(*) FROM payment_types)
     + (SELECT count(*) FROM indicators) + (SELECT count(*) FROM states)
