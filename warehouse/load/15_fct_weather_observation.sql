INSERT INTO dw.fct_weather_observation AS t (
    city_id, observed_at, state, condition, temp, humidity, pressure, wind_speed, clouds, rain_1h,
    source_produced_at
)
SELECT city_id, observed_at, state, condition, temp, humidity, pressure, wind_speed, clouds,
       rain_1h, produced_at
FROM stage_weather
ON CONFLICT (city_id, observed_at) DO UPDATE SET
    state = EXCLUDED.state, condition = EXCLUDED.condition, temp = EXCLUDED.temp,
    humidity = EXCLUDED.humidity, pressure = EXCLUDED.pressure,
    wind_speed = EXCLUDED.wind_speed, clouds = EXCLUDED.clouds, rain_1h = EXCLUDED.rain_1h,
    source_produced_at = EXCLUDED.source_produced_at
WHERE coalesce(t.source_produced_at, '-infinity') <= EXCLUDED.source_produced_at
  AND (t.state, t.condition, t.temp, t.humidity, t.pressure, t.wind_speed, t.clouds, t.rain_1h)
      IS DISTINCT FROM
      (EXCLUDED.state, EXCLUDED.condition, EXCLUDED.temp, EXCLUDED.humidity,
       EXCLUDED.pressure, EXCLUDED.wind_speed, EXCLUDED.clouds, EXCLUDED.rain_1h)
