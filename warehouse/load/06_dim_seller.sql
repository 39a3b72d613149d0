INSERT INTO dw.dim_seller AS t (seller_id, zip_prefix, city, state, is_inferred)
SELECT r.seller_id, r.seller_zip_code_prefix, r.seller_city, r.seller_state, false
FROM latest AS l,
     jsonb_to_record(l.row) AS r(
         seller_id text, seller_zip_code_prefix text, seller_city text, seller_state text
     )
WHERE l.entity = 'sellers' AND NOT l.deleted
ON CONFLICT (seller_id) DO UPDATE SET
    zip_prefix = EXCLUDED.zip_prefix, city = EXCLUDED.city, state = EXCLUDED.state,
    is_inferred = false, updated_at = now()
WHERE (t.zip_prefix, t.city, t.state, t.is_inferred)
      IS DISTINCT FROM (EXCLUDED.zip_prefix, EXCLUDED.city, EXCLUDED.state, false)
