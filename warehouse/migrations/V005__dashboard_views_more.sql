-- The pipeline-health dashboard's history: every micro-batch of every streaming query, and
-- every warehouse load. dashboard.pipeline_freshness keeps only each query's latest batch and
-- the reader has no grant on etl, so lag and rows per batch over time need views of their own.

-- One row per micro-batch of each streaming query (bronze, silver, gold, warehouse).
CREATE VIEW dashboard.stream_batches AS
SELECT query_name,
       batch_id,
       batch_started_at,
       rows_in,
       rows_out,
       input_rows_per_s,
       processed_rows_per_s,
       batch_duration_ms,
       lag,
       lag_unit
FROM ops.stream_progress;

-- One row per committed warehouse load: the change rows it received, the rows it wrote (summed
-- over its tables) and how long it took.
CREATE VIEW dashboard.warehouse_loads AS
SELECT query_name,
       batch_id,
       started_at,
       committed_at,
       changes,
       (SELECT coalesce(sum(value::numeric), 0)::bigint
        FROM jsonb_each(rows)
        WHERE jsonb_typeof(value) = 'number')         AS rows_written,
       extract(epoch FROM committed_at - started_at) AS load_seconds
FROM etl.batch_log
WHERE committed_at IS NOT NULL;

GRANT SELECT ON dashboard.stream_batches, dashboard.warehouse_loads TO lakehouse_reader;
