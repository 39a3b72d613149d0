INSERT INTO dw.fct_payment AS t (
    order_id, payment_sequential, payment_type, installments, payment_value, source_produced_at
)
SELECT order_id, payment_sequential, payment_type, payment_installments, payment_value,
       produced_at
FROM stage_order_payments
ON CONFLICT (order_id, payment_sequential) DO UPDATE SET
    payment_type = EXCLUDED.payment_type, installments = EXCLUDED.installments,
    payment_value = EXCLUDED.payment_value, source_produced_at = EXCLUDED.source_produced_at,
    updated_at = now()
WHERE coalesce(t.source_produced_at, '-infinity') <= EXCLUDED.source_produced_at
  AND (t.payment_type, t.installments, t.payment_value)
      IS DISTINCT FROM (EXCLUDED.payment_type, EXCLUDED.installments, EXCLUDED.payment_value)
