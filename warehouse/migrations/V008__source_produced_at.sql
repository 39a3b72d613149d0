-- The warehouse is loaded from the streaming micro-batch itself, not from silver's change
-- feed, so a row may arrive after a newer version of the same key (a producer's backlog read
-- late). Each row loaded from a source record keeps that record's produced_at (UTC); an
-- upsert carrying an older one changes nothing, as silver's MERGE does.
-- Null on inferred members and on rows loaded before this column existed.
ALTER TABLE dw.dim_category ADD COLUMN source_produced_at timestamp;
ALTER TABLE dw.dim_product ADD COLUMN source_produced_at timestamp;
ALTER TABLE dw.dim_seller ADD COLUMN source_produced_at timestamp;
ALTER TABLE dw.dim_customer ADD COLUMN source_produced_at timestamp;
ALTER TABLE dw.fct_order ADD COLUMN source_produced_at timestamp;
ALTER TABLE dw.fct_order_item ADD COLUMN source_produced_at timestamp;
ALTER TABLE dw.fct_payment ADD COLUMN source_produced_at timestamp;
ALTER TABLE dw.fct_review ADD COLUMN source_produced_at timestamp;
ALTER TABLE dw.fct_indicator ADD COLUMN source_produced_at timestamp;
ALTER TABLE dw.fct_weather_observation ADD COLUMN source_produced_at timestamp;
