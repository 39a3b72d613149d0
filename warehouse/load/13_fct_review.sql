INSERT INTO dw.fct_review AS t (
    review_id, order_id, review_score, created_date, answered_at, has_comment
)
SELECT r.review_id, r.order_id, r.review_score, r.review_creation_date::date,
       r.review_answer_timestamp, r.has_comment
FROM latest AS l,
     jsonb_to_record(l.row) AS r(
         review_id text, order_id text, review_score smallint,
         review_creation_date timestamp, review_answer_timestamp timestamp, has_comment boolean
     )
WHERE l.entity = 'order_reviews' AND NOT l.deleted
ON CONFLICT (review_id, order_id) DO UPDATE SET
    review_score = EXCLUDED.review_score, created_date = EXCLUDED.created_date,
    answered_at = EXCLUDED.answered_at, has_comment = EXCLUDED.has_comment, updated_at = now()
WHERE (t.review_score, t.created_date, t.answered_at, t.has_comment)
      IS DISTINCT FROM
      (EXCLUDED.review_score, EXCLUDED.created_date, EXCLUDED.answered_at, EXCLUDED.has_comment)
