INSERT INTO dw.dim_category AS t (category_pt, category_en, source_produced_at)
SELECT product_category_name, product_category_name_english, produced_at
FROM stage_category_translation
ON CONFLICT (category_pt) DO UPDATE SET
    category_en = EXCLUDED.category_en, source_produced_at = EXCLUDED.source_produced_at
WHERE coalesce(t.source_produced_at, '-infinity') <= EXCLUDED.source_produced_at
  AND t.category_en IS DISTINCT FROM EXCLUDED.category_en
