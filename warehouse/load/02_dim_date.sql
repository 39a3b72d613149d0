-- Calendar rows for every date the batch's facts point at.
SELECT dw.add_dates(array_agg(d))
FROM (
    SELECT (row ->> 'order_purchase_timestamp')::date AS d FROM latest WHERE entity = 'orders'
    UNION
    SELECT (row ->> 'review_creation_date')::date FROM latest WHERE entity = 'order_reviews'
    UNION
    SELECT (row ->> 'date')::date FROM latest WHERE entity = 'sgs'
    UNION
    SELECT (row ->> 'observed_at')::date FROM latest WHERE entity = 'weather'
) AS dates
