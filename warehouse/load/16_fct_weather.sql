-- The daily summary of every (state, day) whose observations the batch changed, recomputed
-- from all of that day's observations (as gold.sales_weather summarises them).
WITH touched AS (
    SELECT DISTINCT state, observed_at::date AS date_key FROM stage_weather
),
summary AS (
    SELECT t.state, t.date_key,
           count(o.observed_at)            AS observations,
           avg(o.temp)                     AS temp_avg,
           min(o.temp)                     AS temp_min,
           max(o.temp)                     AS temp_max,
           avg(o.humidity)                 AS humidity_avg,
           coalesce(sum(o.rain_1h), 0)     AS rain_mm
    FROM touched AS t
    LEFT JOIN dw.fct_weather_observation AS o
           ON o.state = t.state
          AND o.observed_at >= t.date_key AND o.observed_at < t.date_key + 1
    GROUP BY t.state, t.date_key
),
emptied AS (
    DELETE FROM dw.fct_weather AS w USING summary AS s
    WHERE s.observations = 0 AND w.state = s.state AND w.date_key = s.date_key
    RETURNING 1
),
upserted AS (
    INSERT INTO dw.fct_weather AS w (
        state, date_key, observations, temp_avg, temp_min, temp_max, humidity_avg, rain_mm
    )
    SELECT state, date_key, observations, temp_avg, temp_min, temp_max, humidity_avg, rain_mm
    FROM summary
    WHERE observations > 0
    ON CONFLICT (state, date_key) DO UPDATE SET
        observations = EXCLUDED.observations, temp_avg = EXCLUDED.temp_avg,
        temp_min = EXCLUDED.temp_min, temp_max = EXCLUDED.temp_max,
        humidity_avg = EXCLUDED.humidity_avg, rain_mm = EXCLUDED.rain_mm, updated_at = now()
    WHERE (w.observations, w.temp_avg, w.temp_min, w.temp_max, w.humidity_avg, w.rain_mm)
          IS DISTINCT FROM
          (EXCLUDED.observations, EXCLUDED.temp_avg, EXCLUDED.temp_min, EXCLUDED.temp_max,
           EXCLUDED.humidity_avg, EXCLUDED.rain_mm)
    RETURNING 1
)
SELECT (SELECT count(*) FROM emptied) + (SELECT count(*) FROM upserted)
