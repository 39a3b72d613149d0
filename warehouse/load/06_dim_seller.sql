INSERT INTO dw.dim_seller AS t (seller_id, zip_prefix, city, state, is_inferred, source_produced_at)
SELECT seller_id, seller_zip_code_prefix, seller_city, seller_state, false, produced_at
FROM stage_sellers
ON CONFLICT (seller_id) DO UPDATE SET
    zip_prefix = EXCLUDED.zip_prefix, city = EXCLUDED.city, state = EXCLUDED.state,
    is_inferred = false, source_produced_at = EXCLUDED.source_produced_at, updated_at = now()
WHERE coalesce(t.source_produced_at, '-infinity') <= EXCLUDED.source_produced_at
  AND (t.zip_prefix, t.city, t.state, t.is_inferred)
      IS DISTINCT FROM (EXCLUDED.zip_prefix, EXCLUDED.city, EXCLUDED.state, false)
