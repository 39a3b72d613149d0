INSERT INTO dw.dim_customer AS t (customer_id, customer_token, zip3, city, state, is_inferred)
SELECT r.customer_id, r.customer_token, r.customer_zip3, r.customer_city, r.customer_state, false
FROM latest AS l,
     jsonb_to_record(l.row) AS r(
         customer_id text, customer_token text, customer_zip3 text, customer_city text,
         customer_state text
     )
WHERE l.entity = 'customers' AND NOT l.deleted
ON CONFLICT (customer_id) DO UPDATE SET
    customer_token = EXCLUDED.customer_token, zip3 = EXCLUDED.zip3, city = EXCLUDED.city,
    state = EXCLUDED.state, is_inferred = false, updated_at = now()
WHERE (t.customer_token, t.zip3, t.city, t.state, t.is_inferred)
      IS DISTINCT FROM
      (EXCLUDED.customer_token, EXCLUDED.zip3, EXCLUDED.city, EXCLUDED.state, false)
