INSERT INTO dw.dim_product AS t (
    product_id, category_pt, category_en, name_length, description_length, photos_qty,
    weight_g, length_cm, height_cm, width_cm, is_inferred
)
SELECT r.product_id, r.product_category_name, c.category_en, r.product_name_lenght,
       r.product_description_lenght, r.product_photos_qty, r.product_weight_g,
       r.product_length_cm, r.product_height_cm, r.product_width_cm, false
FROM latest AS l,
     jsonb_to_record(l.row) AS r(
         product_id text, product_category_name text, product_name_lenght int,
         product_description_lenght int, product_photos_qty int, product_weight_g int,
         product_length_cm int, product_height_cm int, product_width_cm int
     )
LEFT JOIN dw.dim_category AS c ON c.category_pt = r.product_category_name
WHERE l.entity = 'products' AND NOT l.deleted
ON CONFLICT (product_id) DO UPDATE SET
    category_pt = EXCLUDED.category_pt, category_en = EXCLUDED.category_en,
    name_length = EXCLUDED.name_length, description_length = EXCLUDED.description_length,
    photos_qty = EXCLUDED.photos_qty, weight_g = EXCLUDED.weight_g,
    length_cm = EXCLUDED.length_cm, height_cm = EXCLUDED.height_cm,
    width_cm = EXCLUDED.width_cm, is_inferred = false, updated_at = now()
WHERE (t.category_pt, t.category_en, t.name_length, t.description_length, t.photos_qty,
       t.weight_g, t.length_cm, t.height_cm, t.width_cm, t.is_inferred)
      IS DISTINCT FROM
      (EXCLUDED.category_pt, EXCLUDED.category_en, EXCLUDED.name_length,
       EXCLUDED.description_length, EXCLUDED.photos_qty, EXCLUDED.weight_g,
       EXCLUDED.length_cm, EXCLUDED.height_cm, EXCLUDED.width_cm, false)
