"""Versioned SQL migrations: ``warehouse/migrations/V<NNN>__<what>.sql`` applied in order, each
in its own transaction together with its row in ``public.schema_migrations``; idempotent."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from lakehouse.errors import LakehouseError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^V(\d{3})__([a-z0-9_]+)\.sql$")


class MigrationError(LakehouseError):
    """A migration is malformed, failed, or was changed after it was applied."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file, in version order; malformed names are an error."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named V<NNN>__<what>.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return found


def migrate(conn: psycopg.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the pending migrations; returns the versions applied. A changed applied file is
    an error (write a new migration instead)."""
    conn.autocommit = False
    with conn.transaction():
        conn.execute(
            "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
            " version int PRIMARY KEY, name text NOT NULL, checksum char(64) NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
    applied = {
        v: c for v, c in conn.execute("SELECT version, checksum FROM public.schema_migrations")
    }
    done = []
    for migration in migrations if migrations is not None else discover():
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(
                    f"migration V{migration.version:03d} {migration.name} changed after it was "
                    "applied; add a new migration instead"
                )
            continue
        try:
            with conn.transaction():
                conn.execute(migration.sql)  # type: ignore[arg-type]
                conn.execute(
                    "INSERT INTO public.schema_migrations (version, name, checksum) "
                    "VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
        except psycopg.Error as exc:
            raise MigrationError(f"migration V{migration.version:03d} failed: {exc}") from exc
        log.info("applied migration V%03d %s", migration.version, migration.name)
        done.append(migration.version)
    return done
