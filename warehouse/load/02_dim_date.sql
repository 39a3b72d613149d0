-- Calendar rows for every date the batch's facts point at.
SELECT dw.add_dates(array_agg(d))
FROM (
    SELECT order_purchase_timestamp::date AS d FROM stage_orders
    UNION
    SELECT review_creation_date::date FROM stage_order_reviews
    UNION
    SELECT date FROM stage_sgs
    UNION
    SELECT observed_at::date FROM stage_weather
) AS dates
