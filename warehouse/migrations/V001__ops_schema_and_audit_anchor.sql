-- Operations schema: the audit trail's anchored head lives here, out of reach of whoever can
-- rewrite the audit file. One row, moved forward only.
CREATE SCHEMA IF NOT EXISTS ops;

CREATE TABLE ops.audit_anchor (
    id          smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    seq         bigint      NOT NULL CHECK (seq > 0),
    entry_hash  char(64)    NOT NULL,
    anchored_at timestamptz NOT NULL DEFAULT now()
);
