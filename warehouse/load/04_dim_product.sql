INSERT INTO dw.dim_product AS t (
    product_id, category_pt, category_en, name_length, description_length, photos_qty,
    weight_g, length_cm, height_cm, width_cm, is_inferred, source_produced_at
)
SELECT s.product_id, s.product_category_name, c.category_en, s.product_name_lenght,
       s.product_description_lenght, s.product_photos_qty, s.product_weight_g,
       s.product_length_cm, s.product_height_cm, s.product_width_cm, false, s.produced_at
FROM stage_products AS s
LEFT JOIN dw.dim_category AS c ON c.category_pt = s.product_category_name
ON CONFLICT (product_id) DO UPDATE SET
    category_pt = EXCLUDED.category_pt, category_en = EXCLUDED.category_en,
    name_length = EXCLUDED.name_length, description_length = EXCLUDED.description_length,
    photos_qty = EXCLUDED.photos_qty, weight_g = EXCLUDED.weight_g,
    length_cm = EXCLUDED.length_cm, height_cm = EXCLUDED.height_cm,
    width_cm = EXCLUDED.width_cm, is_inferred = false,
    source_produced_at = EXCLUDED.source_produced_at, updated_at = now()
WHERE coalesce(t.source_produced_at, '-infinity') <= EXCLUDED.source_produced_at
  AND (t.category_pt, t.category_en, t.name_length, t.description_length, t.photos_qty,
       t.weight_g, t.length_cm, t.height_cm, t.width_cm, t.is_inferred)
      IS DISTINCT FROM
      (EXCLUDED.category_pt, EXCLUDED.category_en, EXCLUDED.name_length,
       EXCLUDED.description_length, EXCLUDED.photos_qty, EXCLUDED.weight_g,
       EXCLUDED.length_cm, EXCLUDED.height_cm, EXCLUDED.width_cm, false)
