-- The views the Grafana dashboards (warehouse/grafana/dashboards) and the main job's report
-- read. Money: GMV from items, payments from payments, never an items x payments join.
CREATE SCHEMA dashboard;

-- One row per order with its items summed: the grain every sales view starts from.
CREATE VIEW dashboard.order_sales AS
WITH items AS (
    SELECT order_id,
           count(*)           AS items,
           sum(price)         AS gmv,
           sum(freight_value) AS freight
    FROM dw.fct_order_item
    GROUP BY order_id
),
reviews AS (
    SELECT order_id, avg(review_score) AS review_score
    FROM dw.fct_review
    GROUP BY order_id
)
SELECT o.order_id,
       o.purchase_date,
       o.purchased_at,
       o.order_status,
       coalesce(c.state, '??')   AS state,
       c.customer_token,
       coalesce(i.items, 0)      AS items,
       coalesce(i.gmv, 0)        AS gmv,
       coalesce(i.freight, 0)    AS freight,
       o.delivery_days,
       o.is_late,
       r.review_score
FROM dw.fct_order AS o
LEFT JOIN dw.dim_customer AS c USING (customer_id)
LEFT JOIN items AS i USING (order_id)
LEFT JOIN reviews AS r USING (order_id);

-- Executive KPIs per day.
CREATE VIEW dashboard.kpi_daily AS
SELECT purchase_date                                   AS day,
       count(*)                                        AS orders,
       sum(items)                                      AS items,
       sum(gmv)                                        AS gmv,
       sum(freight)                                    AS freight,
       round(sum(gmv) / nullif(count(*) FILTER (WHERE items > 0), 0), 2) AS avg_ticket,
       count(DISTINCT customer_token)                  AS customers,
       round(avg(delivery_days), 2)                    AS avg_delivery_days,
       round(avg(is_late::int), 4)                     AS late_share,
       round(avg(review_score), 2)                     AS avg_review_score
FROM dashboard.order_sales
GROUP BY purchase_date;

CREATE VIEW dashboard.gmv_by_state AS
SELECT s.purchase_date AS day,
       s.state,
       g.state_name,
       g.region,
       count(*)        AS orders,
       sum(s.items)    AS items,
       sum(s.gmv)      AS gmv
FROM dashboard.order_sales AS s
LEFT JOIN dw.dim_geography AS g USING (state)
GROUP BY s.purchase_date, s.state, g.state_name, g.region;

CREATE VIEW dashboard.gmv_by_category AS
SELECT o.purchase_date                             AS day,
       coalesce(p.category_pt, 'sem_categoria')    AS category_pt,
       coalesce(p.category_en, p.category_pt, 'uncategorised') AS category_en,
       count(DISTINCT i.order_id)                  AS orders,
       count(*)                                    AS items,
       sum(i.price)                                AS gmv
FROM dw.fct_order_item AS i
JOIN dw.fct_order AS o USING (order_id)
LEFT JOIN dw.dim_product AS p USING (product_id)
GROUP BY o.purchase_date, 2, 3;

CREATE VIEW dashboard.payments_by_type AS
SELECT o.purchase_date       AS day,
       p.payment_type,
       t.label,
       count(*)              AS payments,
       sum(p.payment_value)  AS payment_value,
       round(avg(p.installments), 2) AS avg_installments
FROM dw.fct_payment AS p
JOIN dw.fct_order AS o USING (order_id)
LEFT JOIN dw.dim_payment_type AS t USING (payment_type)
GROUP BY o.purchase_date, p.payment_type, t.label;

-- Monthly GMV, nominal and deflated by IPCA to the prices of the latest month with an IPCA
-- value, beside the month's IPCA and average Selic target (as gold.monthly_gmv computes it).
CREATE VIEW dashboard.macro_monthly AS
WITH gmv AS (
    SELECT date_trunc('month', day)::date AS month, sum(gmv) AS gmv_nominal
    FROM dashboard.kpi_daily
    GROUP BY 1
),
ipca AS (
    SELECT date_trunc('month', date_key)::date AS month,
           value AS ipca_pct,
           exp(sum(ln(1 + value / 100)) OVER (ORDER BY date_key)) AS price_index
    FROM dw.fct_indicator
    WHERE series_code = 433
),
latest AS (
    SELECT price_index AS base_index FROM ipca ORDER BY month DESC LIMIT 1
),
selic AS (
    SELECT date_trunc('month', date_key)::date AS month, avg(value) AS selic_target_pct
    FROM dw.fct_indicator
    WHERE series_code = 432
    GROUP BY 1
)
SELECT g.month,
       g.gmv_nominal,
       round(g.gmv_nominal * l.base_index / i.price_index, 2) AS gmv_real,
       i.ipca_pct,
       round(s.selic_target_pct, 4) AS selic_target_pct
FROM gmv AS g
LEFT JOIN ipca AS i USING (month)
LEFT JOIN selic AS s USING (month)
LEFT JOIN latest AS l ON true;

CREATE VIEW dashboard.sales_weather AS
WITH sales AS (
    SELECT purchase_date AS day, state, count(*) AS orders, sum(gmv) AS gmv
    FROM dashboard.order_sales
    GROUP BY 1, 2
)
SELECT w.date_key AS day,
       w.state,
       g.capital,
       coalesce(s.orders, 0) AS orders,
       coalesce(s.gmv, 0)    AS gmv,
       w.temp_avg,
       w.humidity_avg,
       w.rain_mm,
       w.rain_mm > 0         AS rained
FROM dw.fct_weather AS w
JOIN dw.dim_geography AS g USING (state)
LEFT JOIN sales AS s ON s.day = w.date_key AND s.state = w.state;

-- Pipeline health: the latest batch of each streaming query and how long ago it ran.
CREATE VIEW dashboard.pipeline_freshness AS
SELECT DISTINCT ON (query_name)
       query_name,
       batch_id,
       batch_started_at,
       rows_in,
       rows_out,
       batch_duration_ms,
       lag,
       lag_unit,
       extract(epoch FROM now() - (batch_started_at + batch_duration_ms * interval '1 ms'))
           AS seconds_since
FROM ops.stream_progress
ORDER BY query_name, batch_started_at DESC;

-- The warehouse's own freshness: the last committed load and the newest event it brought.
CREATE VIEW dashboard.warehouse_freshness AS
SELECT max(committed_at)                              AS last_load_at,
       extract(epoch FROM now() - max(committed_at))  AS seconds_since_load,
       count(*) FILTER (WHERE committed_at > now() - interval '1 hour') AS loads_last_hour
FROM etl.batch_log;

-- Quarantined records against the records silver read, per hour.
CREATE VIEW dashboard.quarantine_rate AS
WITH read AS (
    SELECT date_trunc('hour', batch_started_at) AS hour, sum(rows_in) AS rows_read
    FROM ops.stream_progress
    WHERE query_name = 'silver'
    GROUP BY 1
),
set_aside AS (
    SELECT date_trunc('hour', seen_at) AS hour, count(*) AS quarantined
    FROM ops.quarantine_event
    GROUP BY 1
)
SELECT hour,
       coalesce(r.rows_read, 0)   AS rows_read,
       coalesce(q.quarantined, 0) AS quarantined,
       round(coalesce(q.quarantined, 0)::numeric / nullif(r.rows_read, 0), 4) AS quarantine_rate
FROM read AS r
FULL JOIN set_aside AS q USING (hour);

CREATE VIEW dashboard.quarantine_reasons AS
SELECT stage, reason, count(*) AS records, max(seen_at) AS last_seen_at
FROM ops.quarantine_event
GROUP BY stage, reason;

-- The reconciliation of the latest load: warehouse totals beside silver's.
CREATE VIEW dashboard.reconciliation_latest AS
SELECT r.measure, r.warehouse, r.silver, r.matches, r.checked_at
FROM ops.reconciliation AS r
WHERE (r.query_id, r.batch_id) = (
    SELECT query_id, batch_id FROM ops.reconciliation ORDER BY checked_at DESC, batch_id DESC LIMIT 1
);

GRANT USAGE ON SCHEMA dashboard TO lakehouse_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA dashboard TO lakehouse_reader;
