INSERT INTO dw.fct_order AS t (
    order_id, customer_id, purchase_date, order_status, purchased_at, approved_at,
    delivered_carrier_at, delivered_customer_at, estimated_delivery_at, delivery_days, is_late
)
SELECT r.order_id,
       r.customer_id,
       r.order_purchase_timestamp::date,
       r.order_status,
       r.order_purchase_timestamp,
       r.order_approved_at,
       r.order_delivered_carrier_date,
       r.order_delivered_customer_date,
       r.order_estimated_delivery_date,
       round(extract(epoch FROM r.order_delivered_customer_date - r.order_purchase_timestamp)
             / 86400, 2),
       CASE WHEN r.order_delivered_customer_date IS NOT NULL
            THEN r.order_delivered_customer_date > r.order_estimated_delivery_date END
FROM latest AS l,
     jsonb_to_record(l.row) AS r(
         order_id text, customer_id text, order_status text,
         order_purchase_timestamp timestamp, order_approved_at timestamp,
         order_delivered_carrier_date timestamp, order_delivered_customer_date timestamp,
         order_estimated_delivery_date timestamp
     )
WHERE l.entity = 'orders' AND NOT l.deleted
ON CONFLICT (order_id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, purchase_date = EXCLUDED.purchase_date,
    order_status = EXCLUDED.order_status, purchased_at = EXCLUDED.purchased_at,
    approved_at = EXCLUDED.approved_at, delivered_carrier_at = EXCLUDED.delivered_carrier_at,
    delivered_customer_at = EXCLUDED.delivered_customer_at,
    estimated_delivery_at = EXCLUDED.estimated_delivery_at,
    delivery_days = EXCLUDED.delivery_days, is_late = EXCLUDED.is_late, updated_at = now()
WHERE (t.customer_id, t.purchase_date, t.order_status, t.purchased_at, t.approved_at,
       t.delivered_carrier_at, t.delivered_customer_at, t.estimated_delivery_at)
      IS DISTINCT FROM
      (EXCLUDED.customer_id, EXCLUDED.purchase_date, EXCLUDED.order_status,
       EXCLUDED.purchased_at, EXCLUDED.approved_at, EXCLUDED.delivered_carrier_at,
       EXCLUDED.delivered_customer_at, EXCLUDED.estimated_delivery_at)
