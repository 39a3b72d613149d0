-- Progress of the streaming application's queries, one row per micro-batch, written by its
-- StreamingQueryListener. The pipeline-health dashboard reads it.
CREATE TABLE ops.stream_progress (
    query_name          text             NOT NULL,
    query_id            uuid             NOT NULL,  -- kept in the checkpoint: stable across restarts
    run_id              uuid             NOT NULL,  -- new on every start
    batch_id            bigint           NOT NULL,
    batch_started_at    timestamptz      NOT NULL,
    rows_in             bigint           NOT NULL,
    rows_out            bigint,                     -- rows the batch wrote, when the sink says
    input_rows_per_s    double precision,
    processed_rows_per_s double precision,
    batch_duration_ms   bigint           NOT NULL,
    lag                 bigint,                     -- Kafka offsets behind the latest, or Delta files outstanding
    lag_unit            text,
    recorded_at         timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (query_id, batch_id)
);

CREATE INDEX stream_progress_recent ON ops.stream_progress (query_name, batch_started_at DESC);
