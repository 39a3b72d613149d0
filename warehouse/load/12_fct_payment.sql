INSERT INTO dw.fct_payment AS t (
    order_id, payment_sequential, payment_type, installments, payment_value
)
SELECT r.order_id, r.payment_sequential, r.payment_type, r.payment_installments,
       r.payment_value
FROM latest AS l,
     jsonb_to_record(l.row) AS r(
         order_id text, payment_sequential int, payment_type text, payment_installments int,
         payment_value numeric(12,2)
     )
WHERE l.entity = 'order_payments' AND NOT l.deleted
ON CONFLICT (order_id, payment_sequential) DO UPDATE SET
    payment_type = EXCLUDED.payment_type, installments = EXCLUDED.installments,
    payment_value = EXCLUDED.payment_value, updated_at = now()
WHERE (t.payment_type, t.installments, t.payment_value)
      IS DISTINCT FROM (EXCLUDED.payment_type, EXCLUDED.installments, EXCLUDED.payment_value)
