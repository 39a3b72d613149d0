INSERT INTO dw.fct_order_item AS t (
    order_id, order_item_id, product_id, seller_id, shipping_limit_at, price, freight_value,
    source_produced_at
)
SELECT order_id, order_item_id, product_id, seller_id, shipping_limit_date, price,
       freight_value, produced_at
FROM stage_order_items
ON CONFLICT (order_id, order_item_id) DO UPDATE SET
    product_id = EXCLUDED.product_id, seller_id = EXCLUDED.seller_id,
    shipping_limit_at = EXCLUDED.shipping_limit_at, price = EXCLUDED.price,
    freight_value = EXCLUDED.freight_value, source_produced_at = EXCLUDED.source_produced_at,
    updated_at = now()
WHERE coalesce(t.source_produced_at, '-infinity') <= EXCLUDED.source_produced_at
  AND (t.product_id, t.seller_id, t.shipping_limit_at, t.price, t.freight_value)
      IS DISTINCT FROM
      (EXCLUDED.product_id, EXCLUDED.seller_id, EXCLUDED.shipping_limit_at, EXCLUDED.price,
       EXCLUDED.freight_value)
