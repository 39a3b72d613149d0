INSERT INTO dw.fct_indicator AS t (series_code, date_key, value)
SELECT r.series_code, r.date, r.value
FROM latest AS l,
     jsonb_to_record(l.row) AS r(series_code int, date date, value numeric(18,6))
WHERE l.entity = 'sgs' AND NOT l.deleted
ON CONFLICT (series_code, date_key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
WHERE t.value IS DISTINCT FROM EXCLUDED.value
