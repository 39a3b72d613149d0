INSERT INTO dw.fct_weather_observation AS t (
    city_id, observed_at, state, condition, temp, humidity, pressure, wind_speed, clouds, rain_1h
)
SELECT r.city_id, r.observed_at, r.state, r.condition, r.temp, r.humidity, r.pressure,
       r.wind_speed, r.clouds, r.rain_1h
FROM latest AS l,
     jsonb_to_record(l.row) AS r(
         city_id int, observed_at timestamp, state text, condition text,
         temp double precision, humidity double precision, pressure double precision,
         wind_speed double precision, clouds double precision, rain_1h double precision
     )
WHERE l.entity = 'weather' AND NOT l.deleted
ON CONFLICT (city_id, observed_at) DO UPDATE SET
    state = EXCLUDED.state, condition = EXCLUDED.condition, temp = EXCLUDED.temp,
    humidity = EXCLUDED.humidity, pressure = EXCLUDED.pressure,
    wind_speed = EXCLUDED.wind_speed, clouds = EXCLUDED.clouds, rain_1h = EXCLUDED.rain_1h
WHERE (t.state, t.condition, t.temp, t.humidity, t.pressure, t.wind_speed, t.clouds, t.rain_1h)
      IS DISTINCT FROM
      (EXCLUDED.state, EXCLUDED.condition, EXCLUDED.temp, EXCLUDED.humidity,
       EXCLUDED.pressure, EXCLUDED.wind_speed, EXCLUDED.clouds, EXCLUDED.rain_1h)
