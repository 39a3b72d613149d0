-- A translation that arrives after its products: their English category follows.
UPDATE dw.dim_product AS p
SET category_en = c.category_en, updated_at = now()
FROM dw.dim_category AS c
WHERE c.category_pt = p.category_pt
  AND p.category_en IS DISTINCT FROM c.category_en
  AND c.category_pt IN (SELECT product_category_name FROM stage_category_translation)
