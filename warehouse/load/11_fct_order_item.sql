INSERT INTO dw.fct_order_item AS t (
    order_id, order_item_id, product_id, seller_id, shipping_limit_at, price, freight_value
)
SELECT r.order_id, r.order_item_id, r.product_id, r.seller_id, r.shipping_limit_date,
       r.price, r.freight_value
FROM latest AS l,
     jsonb_to_record(l.row) AS r(
         order_id text, order_item_id int, product_id text, seller_id text,
         shipping_limit_date timestamp, price numeric(12,2), freight_value numeric(12,2)
     )
WHERE l.entity = 'order_items' AND NOT l.deleted
ON CONFLICT (order_id, order_item_id) DO UPDATE SET
    product_id = EXCLUDED.product_id, seller_id = EXCLUDED.seller_id,
    shipping_limit_at = EXCLUDED.shipping_limit_at, price = EXCLUDED.price,
    freight_value = EXCLUDED.freight_value, updated_at = now()
WHERE (t.product_id, t.seller_id, t.shipping_limit_at, t.price, t.freight_value)
      IS DISTINCT FROM
      (EXCLUDED.product_id, EXCLUDED.seller_id, EXCLUDED.shipping_limit_at, EXCLUDED.price,
       EXCLUDED.freight_value)
