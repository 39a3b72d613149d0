-- Keys deleted in silver (an erasure) leave the warehouse: facts first, then the dimensions
-- no fact refers to any more.
WITH gone AS (
    SELECT entity, row FROM latest WHERE deleted
),
orders AS (
    DELETE FROM dw.fct_order AS t USING gone
    WHERE gone.entity = 'orders' AND t.order_id = gone.row ->> 'order_id'
    RETURNING 1
),
items AS (
    DELETE FROM dw.fct_order_item AS t USING gone
    WHERE gone.entity = 'order_items' AND t.order_id = gone.row ->> 'order_id'
      AND t.order_item_id = (gone.row ->> 'order_item_id')::int
    RETURNING 1
),
payments AS (
    DELETE FROM dw.fct_payment AS t USING gone
    WHERE gone.entity = 'order_payments' AND t.order_id = gone.row ->> 'order_id'
      AND t.payment_sequential = (gone.row ->> 'payment_sequential')::int
    RETURNING 1
),
reviews AS (
    DELETE FROM dw.fct_review AS t USING gone
    WHERE gone.entity = 'order_reviews' AND t.review_id = gone.row ->> 'review_id'
      AND t.order_id = gone.row ->> 'order_id'
    RETURNING 1
),
indicators AS (
    DELETE FROM dw.fct_indicator AS t USING gone
    WHERE gone.entity = 'sgs' AND t.series_code = (gone.row ->> 'series_code')::int
      AND t.date_key = (gone.row ->> 'date')::date
    RETURNING 1
),
observations AS (
    DELETE FROM dw.fct_weather_observation AS t USING gone
    WHERE gone.entity = 'weather' AND t.city_id = (gone.row ->> 'city_id')::int
      AND t.observed_at = (gone.row ->> 'observed_at')::timestamp
    RETURNING 1
),
customers AS (  -- their orders keep the sale, without the person (customer_id set null)
    DELETE FROM dw.dim_customer AS t USING gone
    WHERE gone.entity = 'customers' AND t.customer_id = gone.row ->> 'customer_id'
    RETURNING 1
),
products AS (
    DELETE FROM dw.dim_product AS t USING gone
    WHERE gone.entity = 'products' AND t.product_id = gone.row ->> 'product_id'
      AND NOT EXISTS (SELECT FROM dw.fct_order_item AS i WHERE i.product_id = t.product_id)
    RETURNING 1
),
sellers AS (
    DELETE FROM dw.dim_seller AS t USING gone
    WHERE gone.entity = 'sellers' AND t.seller_id = gone.row ->> 'seller_id'
      AND NOT EXISTS (SELECT FROM dw.fct_order_item AS i WHERE i.seller_id = t.seller_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM items)
     + (SELECT count(*) FROM payments) + (SELECT count(*) FROM reviews)
     + (SELECT count(*) FROM indicators) + (SELECT count(*) FROM observations)
     + (SELECT count(*) FROM customers) + (SELECT count(*) FROM products)
     + (SELECT count(*) FROM sellers)
