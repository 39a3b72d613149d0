-- Quality gates and the gated promotion of gold into the warehouse (batch/quality.py,
-- batch/promote.py). The loader writes the results and the promoted copies; the dashboards read
-- them through views.

-- One row per expectation per quality run.
CREATE TABLE ops.quality_results (
    run_id         uuid        NOT NULL,
    checked_at     timestamptz NOT NULL,
    layer          text        NOT NULL CHECK (layer IN ('silver', 'gold', 'warehouse')),
    table_name     text        NOT NULL,               -- silver.<entity>, gold.<table>, dw.<table>
    expectation    text        NOT NULL,               -- e.g. unique(sale_date, state, category)
    kind           text        NOT NULL,
    severity       text        NOT NULL CHECK (severity IN ('critical', 'warning')),
    passed         boolean,                            -- NULL: not run, a table it reads is missing
    failing_rows   bigint,
    sample         jsonb       NOT NULL DEFAULT '[]',  -- a few failing rows (their keys)
    detail         text        NOT NULL DEFAULT '',    -- why it failed
    query          text        NOT NULL,
    table_version  bigint,                             -- the Delta version checked (lake tables)
    PRIMARY KEY (run_id, table_name, expectation)
);

CREATE INDEX quality_results_latest ON ops.quality_results (table_name, expectation, checked_at DESC);

-- Gold's tables as promoted: each one the copy of one Delta version, replaced whole.
CREATE TABLE dw.agg_daily_sales (
    sale_date          date             NOT NULL,
    state              text             NOT NULL,
    category           text             NOT NULL,
    orders             bigint,
    items              bigint,
    gmv                numeric(14,2),
    freight            numeric(14,2),
    avg_delivery_days  double precision,
    late_share         double precision,
    avg_review_score   double precision,
    avg_ticket         numeric(14,2),
    PRIMARY KEY (sale_date, state, category)
);

CREATE TABLE dw.agg_monthly_gmv (
    month             date             PRIMARY KEY,
    gmv_nominal       numeric(16,2),
    gmv_real          numeric(16,2),
    ipca_pct          numeric(18,6),
    selic_target_pct  double precision
);

CREATE TABLE dw.agg_sales_weather (
    sale_date     date             NOT NULL,
    state         text             NOT NULL,
    orders        bigint,
    gmv           numeric(14,2),
    temp_avg      double precision,
    humidity_avg  double precision,
    rain_mm       double precision,
    PRIMARY KEY (sale_date, state)
);

-- Every promotion decision: promoted (the version copied and its rows) or refused (why).
CREATE TABLE etl.promotion (
    table_name      text        NOT NULL,              -- gold.<table>
    decided_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    delta_version   bigint,                            -- the version checked (and copied)
    promoted        boolean     NOT NULL,
    rows            bigint,
    quality_run_id  uuid,
    reason          text        NOT NULL DEFAULT '',
    PRIMARY KEY (table_name, decided_at)
);

-- The latest result of each expectation.
CREATE VIEW dashboard.quality_latest AS
SELECT DISTINCT ON (table_name, expectation)
       run_id,
       checked_at,
       layer,
       table_name,
       expectation,
       kind,
       severity,
       passed,
       failing_rows,
       sample,
       detail,
       table_version
FROM ops.quality_results
ORDER BY table_name, expectation, checked_at DESC;

-- Per gold table: the latest decision, and the version the warehouse holds now.
CREATE VIEW dashboard.promotion_latest AS
WITH gold_tables (table_name) AS (
    VALUES ('gold.daily_sales'), ('gold.monthly_gmv'), ('gold.sales_weather')
),
latest_decision AS (
    SELECT DISTINCT ON (table_name)
           table_name, decided_at, delta_version, promoted, reason
    FROM etl.promotion
    ORDER BY table_name, decided_at DESC
),
latest_promotion AS (
    SELECT DISTINCT ON (table_name)
           table_name, decided_at AS promoted_at, delta_version AS promoted_version, rows
    FROM etl.promotion
    WHERE promoted
    ORDER BY table_name, decided_at DESC
)
SELECT g.table_name,
       CASE
           WHEN d.promoted THEN 'promoted'
           WHEN NOT d.promoted THEN 'refused'
           ELSE 'never run'
       END                  AS outcome,
       d.decided_at,
       d.delta_version      AS checked_version,
       p.promoted_version,
       p.promoted_at,
       p.rows               AS promoted_rows,
       coalesce(d.reason, '') AS reason
FROM gold_tables AS g
LEFT JOIN latest_decision AS d USING (table_name)
LEFT JOIN latest_promotion AS p USING (table_name);

GRANT SELECT, INSERT ON ops.quality_results, etl.promotion TO lakehouse_writer;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON dw.agg_daily_sales, dw.agg_monthly_gmv, dw.agg_sales_weather TO lakehouse_writer;
GRANT SELECT ON dw.agg_daily_sales, dw.agg_monthly_gmv, dw.agg_sales_weather TO lakehouse_reader;
GRANT SELECT ON dashboard.quality_latest, dashboard.promotion_latest TO lakehouse_reader;
