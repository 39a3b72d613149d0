-- The star schema Grafana reads (schema dw), the load bookkeeping (schema etl) and the
-- reconciliation results (ops). Keys are the sources' natural keys: every dimension is type 1
-- (latest wins), so a surrogate key would only add a lookup to every load.
--
-- Roles (created by `lakehouse setup` / the docker initdb script before this runs):
--   lakehouse_writer  NOLOGIN  the loader's group: reads and writes dw, etl and ops
--   lakehouse_reader  NOLOGIN  the dashboards' group: reads dw, ops and dashboard
CREATE SCHEMA dw;
CREATE SCHEMA etl;

-- ---------------------------------------------------------------- dimensions
CREATE TABLE dw.dim_date (
    date_key     date     PRIMARY KEY,
    year         smallint NOT NULL,
    quarter      smallint NOT NULL,
    month        smallint NOT NULL,
    month_start  date     NOT NULL,
    day          smallint NOT NULL,
    iso_weekday  smallint NOT NULL,  -- 1 Monday .. 7 Sunday
    is_weekend   boolean  NOT NULL
);

-- Adds the given dates to dw.dim_date (the loader calls it for every date a batch brings, so a
-- fact never waits for a calendar row).
CREATE FUNCTION dw.add_dates(dates date[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO dw.dim_date
    SELECT d, extract(year FROM d), extract(quarter FROM d), extract(month FROM d),
           date_trunc('month', d)::date, extract(day FROM d), extract(isodow FROM d),
           extract(isodow FROM d) >= 6
    FROM (SELECT DISTINCT unnest(dates) AS d) AS given
    WHERE d IS NOT NULL
    ON CONFLICT (date_key) DO NOTHING
$$;

SELECT dw.add_dates(array_agg(d::date))
FROM generate_series(date '2016-01-01', date '2030-12-31', interval '1 day') AS d;

CREATE TABLE dw.dim_geography (
    state        char(2) PRIMARY KEY,
    state_name   text,
    region       text,
    capital      text,
    is_inferred  boolean NOT NULL DEFAULT false  -- seen in a fact before it was described
);

INSERT INTO dw.dim_geography (state, state_name, region, capital) VALUES
    ('AC', 'Acre', 'Norte', 'Rio Branco'),
    ('AL', 'Alagoas', 'Nordeste', 'Maceió'),
    ('AP', 'Amapá', 'Norte', 'Macapá'),
    ('AM', 'Amazonas', 'Norte', 'Manaus'),
    ('BA', 'Bahia', 'Nordeste', 'Salvador'),
    ('CE', 'Ceará', 'Nordeste', 'Fortaleza'),
    ('DF', 'Distrito Federal', 'Centro-Oeste', 'Brasília'),
    ('ES', 'Espírito Santo', 'Sudeste', 'Vitória'),
    ('GO', 'Goiás', 'Centro-Oeste', 'Goiânia'),
    ('MA', 'Maranhão', 'Nordeste', 'São Luís'),
    ('MT', 'Mato Grosso', 'Centro-Oeste', 'Cuiabá'),
    ('MS', 'Mato Grosso do Sul', 'Centro-Oeste', 'Campo Grande'),
    ('MG', 'Minas Gerais', 'Sudeste', 'Belo Horizonte'),
    ('PA', 'Pará', 'Norte', 'Belém'),
    ('PB', 'Paraíba', 'Nordeste', 'João Pessoa'),
    ('PR', 'Paraná', 'Sul', 'Curitiba'),
    ('PE', 'Pernambuco', 'Nordeste', 'Recife'),
    ('PI', 'Piauí', 'Nordeste', 'Teresina'),
    ('RJ', 'Rio de Janeiro', 'Sudeste', 'Rio de Janeiro'),
    ('RN', 'Rio Grande do Norte', 'Nordeste', 'Natal'),
    ('RS', 'Rio Grande do Sul', 'Sul', 'Porto Alegre'),
    ('RO', 'Rondônia', 'Norte', 'Porto Velho'),
    ('RR', 'Roraima', 'Norte', 'Boa Vista'),
    ('SC', 'Santa Catarina', 'Sul', 'Florianópolis'),
    ('SP', 'São Paulo', 'Sudeste', 'São Paulo'),
    ('SE', 'Sergipe', 'Nordeste', 'Aracaju'),
    ('TO', 'Tocantins', 'Norte', 'Palmas');

-- No clear personal data: a keyed token of the person (customer_unique_id), zip prefix cut to
-- three digits, city and state.
CREATE TABLE dw.dim_customer (
    customer_id     text    PRIMARY KEY,
    customer_token  text,
    zip3            char(3),
    city            text,
    state           char(2),
    is_inferred     boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dw.dim_category (
    category_pt  text PRIMARY KEY,
    category_en  text
);

CREATE TABLE dw.dim_product (
    product_id            text    PRIMARY KEY,
    category_pt           text,
    category_en           text,   -- from dw.dim_category, kept in step by the loader
    name_length           int,
    description_length    int,
    photos_qty            int,
    weight_g              int,
    length_cm             int,
    height_cm             int,
    width_cm              int,
    is_inferred           boolean NOT NULL DEFAULT false,
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX dim_product_category ON dw.dim_product (category_pt);

CREATE TABLE dw.dim_seller (
    seller_id    text    PRIMARY KEY,
    zip_prefix   text,
    city         text,
    state        char(2),
    is_inferred  boolean NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dw.dim_payment_type (
    payment_type  text PRIMARY KEY,
    label         text,
    is_inferred   boolean NOT NULL DEFAULT false
);

INSERT INTO dw.dim_payment_type (payment_type, label) VALUES
    ('credit_card', 'Credit card'),
    ('boleto', 'Boleto'),
    ('voucher', 'Voucher'),
    ('debit_card', 'Debit card'),
    ('not_defined', 'Not defined');

CREATE TABLE dw.dim_indicator (
    series_code  int  PRIMARY KEY,
    name         text,
    unit         text,
    frequency    text,
    is_inferred  boolean NOT NULL DEFAULT false
);

INSERT INTO dw.dim_indicator (series_code, name, unit, frequency) VALUES
    (433, 'IPCA', '% per month', 'monthly'),
    (432, 'Selic target', '% per year', 'daily'),
    (11, 'Selic daily', '% per day', 'daily');

-- ---------------------------------------------------------------- facts
-- The order header: its status and dates change over the order's life (type 1).
CREATE TABLE dw.fct_order (
    order_id               text        PRIMARY KEY,
    customer_id            text        REFERENCES dw.dim_customer ON DELETE SET NULL,
    purchase_date          date        NOT NULL REFERENCES dw.dim_date,
    order_status           text        NOT NULL,
    purchased_at           timestamp   NOT NULL,
    approved_at            timestamp,
    delivered_carrier_at   timestamp,
    delivered_customer_at  timestamp,
    estimated_delivery_at  timestamp,
    delivery_days          numeric(8,2),
    is_late                boolean,
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX fct_order_purchase_date ON dw.fct_order (purchase_date);
CREATE INDEX fct_order_customer ON dw.fct_order (customer_id);

-- GMV lives here (price) and only here; payments live in fct_payment. Never join the two for
-- money: an order with several items and several payments would count each one many times.
CREATE TABLE dw.fct_order_item (
    order_id           text          NOT NULL,
    order_item_id      int           NOT NULL,
    product_id         text          NOT NULL REFERENCES dw.dim_product,
    seller_id          text          NOT NULL REFERENCES dw.dim_seller,
    shipping_limit_at  timestamp,
    price              numeric(12,2) NOT NULL,
    freight_value      numeric(12,2) NOT NULL,
    updated_at         timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, order_item_id)
);

CREATE INDEX fct_order_item_product ON dw.fct_order_item (product_id);
CREATE INDEX fct_order_item_seller ON dw.fct_order_item (seller_id);

CREATE TABLE dw.fct_payment (
    order_id             text          NOT NULL,
    payment_sequential   int           NOT NULL,
    payment_type         text          NOT NULL REFERENCES dw.dim_payment_type,
    installments         int,
    payment_value        numeric(12,2) NOT NULL,
    updated_at           timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, payment_sequential)
);

CREATE INDEX fct_payment_type ON dw.fct_payment (payment_type);

CREATE TABLE dw.fct_review (
    review_id      text      NOT NULL,
    order_id       text      NOT NULL,
    review_score   smallint  NOT NULL CHECK (review_score BETWEEN 1 AND 5),
    created_date   date      REFERENCES dw.dim_date,
    answered_at    timestamp,
    has_comment    boolean   NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (review_id, order_id)
);

CREATE INDEX fct_review_order ON dw.fct_review (order_id);

CREATE TABLE dw.fct_indicator (
    series_code  int           NOT NULL REFERENCES dw.dim_indicator,
    date_key     date          NOT NULL REFERENCES dw.dim_date,
    value        numeric(18,6) NOT NULL,
    updated_at   timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (series_code, date_key)
);

-- Every observation of a capital's weather; fct_weather is its daily summary per state.
CREATE TABLE dw.fct_weather_observation (
    city_id      int          NOT NULL,
    observed_at  timestamp    NOT NULL,
    state        char(2)      NOT NULL REFERENCES dw.dim_geography,
    condition    text,
    temp         double precision,
    humidity     double precision,
    pressure     double precision,
    wind_speed   double precision,
    clouds       double precision,
    rain_1h      double precision,
    PRIMARY KEY (city_id, observed_at)
);

CREATE INDEX fct_weather_observation_day ON dw.fct_weather_observation (state, observed_at);

CREATE TABLE dw.fct_weather (
    state         char(2)          NOT NULL REFERENCES dw.dim_geography,
    date_key      date             NOT NULL REFERENCES dw.dim_date,
    observations  int              NOT NULL,
    temp_avg      double precision,
    temp_min      double precision,
    temp_max      double precision,
    humidity_avg  double precision,
    rain_mm       double precision NOT NULL,
    updated_at    timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (state, date_key)
);

CREATE INDEX fct_weather_date ON dw.fct_weather (date_key);

-- ---------------------------------------------------------------- load bookkeeping
-- One row per micro-batch loaded, committed in the same transaction as the batch's rows: a
-- batch found here was loaded, so a replay of it is skipped. query_id (kept in the streaming
-- checkpoint) tells a new checkpoint's batch 0 from an old one's.
CREATE TABLE etl.batch_log (
    query_name  text        NOT NULL,
    query_id    uuid        NOT NULL,
    batch_id    bigint      NOT NULL,
    changes     bigint      NOT NULL,            -- change rows received
    rows        jsonb       NOT NULL DEFAULT '{}', -- rows written per table
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    committed_at timestamptz,
    PRIMARY KEY (query_name, query_id, batch_id)
);

CREATE INDEX batch_log_recent ON etl.batch_log (committed_at DESC);

-- The newest silver version each table's changes were loaded from: what a reconciliation
-- compares the warehouse with.
CREATE TABLE etl.source_version (
    source      text        PRIMARY KEY,
    version     bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Warehouse totals beside silver's at the versions loaded, after every load.
CREATE TABLE ops.reconciliation (
    query_id    uuid          NOT NULL,
    batch_id    bigint        NOT NULL,
    measure     text          NOT NULL,
    warehouse   numeric(20,2) NOT NULL,
    silver      numeric(20,2) NOT NULL,
    matches     boolean       GENERATED ALWAYS AS (warehouse = silver) STORED,
    checked_at  timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (query_id, batch_id, measure)
);

CREATE INDEX reconciliation_recent ON ops.reconciliation (checked_at DESC);

-- Records silver set aside, counted per batch and reason (no raw values: they may hold
-- personal data, and stay in silver.quarantine).
CREATE TABLE ops.quarantine_event (
    topic       text        NOT NULL,
    partition   int         NOT NULL,
    "offset"    bigint      NOT NULL,
    stage       text        NOT NULL,
    reason      text        NOT NULL,
    seen_at     timestamptz NOT NULL,
    PRIMARY KEY (topic, partition, "offset", stage)
);

CREATE INDEX quarantine_event_seen ON ops.quarantine_event (seen_at);

-- ---------------------------------------------------------------- privileges
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA dw, etl, ops TO lakehouse_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA dw, etl TO lakehouse_writer;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON ops.stream_progress, ops.reconciliation, ops.quarantine_event TO lakehouse_writer;
GRANT EXECUTE ON FUNCTION dw.add_dates(date[]) TO lakehouse_writer;
GRANT USAGE ON SCHEMA dw, ops TO lakehouse_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA dw TO lakehouse_reader;
GRANT SELECT ON ops.stream_progress, ops.reconciliation, ops.quarantine_event
    TO lakehouse_reader;
