INSERT INTO dw.dim_customer AS t (
    customer_id, customer_token, zip3, city, state, is_inferred, source_produced_at
)
SELECT customer_id, customer_token, customer_zip3, customer_city, customer_state, false,
       produced_at
FROM stage_customers
ON CONFLICT (customer_id) DO UPDATE SET
    customer_token = EXCLUDED.customer_token, zip3 = EXCLUDED.zip3, city = EXCLUDED.city,
    state = EXCLUDED.state, is_inferred = false,
    source_produced_at = EXCLUDED.source_produced_at, updated_at = now()
WHERE coalesce(t.source_produced_at, '-infinity') <= EXCLUDED.source_produced_at
  AND (t.customer_token, t.zip3, t.city, t.state, t.is_inferred)
      IS DISTINCT FROM
      (EXCLUDED.customer_token, EXCLUDED.zip3, EXCLUDED.city, EXCLUDED.state, false)
