-- Batch jobs that rewrite Delta tables run in the one driver that writes the lake. While the
-- streaming application holds the lake, `lakehouse batch <job>` queues a request here; the
-- application's job runner claims it, runs it and stores the outcome the command prints.
CREATE TABLE ops.batch_request (
    request_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job           text        NOT NULL,
    args          jsonb       NOT NULL DEFAULT '{}',
    requested_by  text        NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    runner        text,                 -- the driver that ran it
    finished_at   timestamptz,
    outcome       text CHECK (outcome IN ('ok', 'failed')),
    result        jsonb,
    error         text,
    CHECK ((finished_at IS NULL) = (outcome IS NULL))
);

CREATE INDEX batch_request_pending ON ops.batch_request (request_id) WHERE started_at IS NULL;

-- One row per table and maintenance run: small-file statistics before and after.
CREATE TABLE ops.table_maintenance (
    run_at              timestamptz NOT NULL,
    table_name          text        NOT NULL,   -- layer.table
    files_before        integer     NOT NULL,
    files_after         integer     NOT NULL,
    small_files_before  integer     NOT NULL,
    small_files_after   integer     NOT NULL,
    bytes_before        bigint      NOT NULL,
    bytes_after         bigint      NOT NULL,
    rows_before         bigint      NOT NULL,
    rows_after          bigint      NOT NULL,
    optimize            text        NOT NULL,   -- 'compaction', 'zorder(c1, c2)' or 'skipped'
    vacuumed_files      integer     NOT NULL,
    duration_s          double precision NOT NULL,
    PRIMARY KEY (run_at, table_name)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON ops.batch_request, ops.table_maintenance
    TO lakehouse_writer;
GRANT SELECT ON ops.table_maintenance TO lakehouse_reader;
