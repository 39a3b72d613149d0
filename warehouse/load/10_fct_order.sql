INSERT INTO dw.fct_order AS t (
    order_id, customer_id, purchase_date, order_status, purchased_at, approved_at,
    delivered_carrier_at, delivered_customer_at, estimated_delivery_at, delivery_days, is_late,
    source_produced_at
)
SELECT order_id,
       customer_id,
       order_purchase_timestamp::date,
       order_status,
       order_purchase_timestamp,
       order_approved_at,
       order_delivered_carrier_date,
       order_delivered_customer_date,
       order_estimated_delivery_date,
       round(extract(epoch FROM order_delivered_customer_date - order_purchase_timestamp)
             / 86400, 2),
       CASE WHEN order_delivered_customer_date IS NOT NULL
            THEN order_delivered_customer_date > order_estimated_delivery_date END,
       produced_at
FROM stage_orders
ON CONFLICT (order_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, purchase_date = EXCLUDED.purchase_date,
    order_status = EXCLUDED.order_status, purchased_at = EXCLUDED.purchased_at,
    approved_at = EXCLUDED.approved_at, delivered_carrier_at = EXCLUDED.delivered_carrier_at,
    delivered_customer_at = EXCLUDED.delivered_customer_at,
    estimated_delivery_at = EXCLUDED.estimated_delivery_at,
    delivery_days = EXCLUDED.delivery_days, is_late = EXCLUDED.is_late,
    source_produced_at = EXCLUDED.source_produced_at, updated_at = now()
WHERE coalesce(t.source_produced_at, '-infinity') <= EXCLUDED.source_produced_at
  AND (t.customer_id, t.purchase_date, t.order_status, t.purchased_at, t.approved_at,
       t.delivered_carrier_at, t.delivered_customer_at, t.estimated_delivery_at)
      IS DISTINCT FROM
      (EXCLUDED.customer_id, EXCLUDED.purchase_date, EXCLUDED.order_status,
       EXCLUDED.purchased_at, EXCLUDED.approved_at, EXCLUDED.delivered_carrier_at,
       EXCLUDED.delivered_customer_at, EXCLUDED.estimated_delivery_at)
