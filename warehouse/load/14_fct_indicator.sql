INSERT INTO dw.fct_indicator AS t (series_code, date_key, value, source_produced_at)
SELECT series_code, date, value, produced_at
FROM stage_sgs
ON CONFLICT (series_code, date_key) DO UPDATE SET
    value = EXCLUDED.value, source_produced_at = EXCLUDED.source_produced_at, updated_at = now()
WHERE coalesce(t.source_produced_at, '-infinity') <= EXCLUDED.source_produced_at
  AND t.value IS DISTINCT FROM EXCLUDED.value
