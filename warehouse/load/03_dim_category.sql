INSERT INTO dw.dim_category (category_pt, category_en)
SELECT r.product_category_name, r.product_category_name_english
FROM latest AS l,
     jsonb_to_record(l.row) AS r(product_category_name text, product_category_name_english text)
WHERE l.entity = 'category_translation' AND NOT l.deleted
ON CONFLICT (category_pt) DO UPDATE SET category_en = EXCLUDED.category_en
WHERE dw.dim_category.category_en IS DISTINCT FROM EXCLUDED.category_en
