"""The audit chain's head kept in PostgreSQL (``ops.audit_anchor``), out of reach of whoever
can rewrite the audit file."""

from __future__ import annotations

from lakehouse.postgres import connect
from lakehouse.settings import Secrets, Settings


class PostgresAnchor:
    """Reads and moves forward the single anchored (seq, hash) row."""

    def __init__(self, settings: Settings, secrets: Secrets) -> None:
        self.settings = settings
        self.secrets = secrets

    def read(self) -> tuple[int, str] | None:
        with connect(self.settings, self.secrets, dbname=self.settings.postgres.database) as conn:
            row = conn.execute(
                "SELECT seq, entry_hash FROM ops.audit_anchor WHERE id = 1"
            ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def write(self, seq: int, entry_hash: str) -> None:
        with connect(self.settings, self.secrets, dbname=self.settings.postgres.database) as conn:
            conn.execute(
                "INSERT INTO ops.audit_anchor (id, seq, entry_hash) VALUES (1, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, "
                "entry_hash = EXCLUDED.entry_hash, anchored_at = now() "
                "WHERE ops.audit_anchor.seq <= EXCLUDED.seq",
                (seq, entry_hash),
            )
