INSERT INTO dw.fct_review AS t (
    review_id, order_id, review_score, created_date, answered_at, has_comment,
    source_produced_at
)
SELECT review_id, order_id, review_score, review_creation_date::date, review_answer_timestamp,
       has_comment, produced_at
FROM stage_order_reviews
ON CONFLICT (review_id, order_id) DO UPDATE SET
    review_score = EXCLUDED.review_score, created_date = EXCLUDED.created_date,
    answered_at = EXCLUDED.answered_at, has_comment = EXCLUDED.has_comment,
    source_produced_at = EXCLUDED.source_produced_at, updated_at = now()
WHERE coalesce(t.source_produced_at, '-infinity') <= EXCLUDED.source_produced_at
  AND (t.review_score, t.created_date, t.answered_at, t.has_comment)
      IS DISTINCT FROM
      (EXCLUDED.review_score, EXCLUDED.created_date, EXCLUDED.answered_at, EXCLUDED.has_comment)
