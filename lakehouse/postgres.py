"""PostgreSQL connections for the project's roles, and creation of its database and role."""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from lakehouse.settings import Secrets, Settings

log = logging.getLogger(__name__)


def connect(
    settings: Settings, secrets: Secrets, *, superuser: bool = False, dbname: str | None = None
) -> psycopg.Connection:
    """A connection as the project's role (or the cluster's superuser, for administration)."""
    pg = settings.postgres
    if superuser:
        user, password = pg.superuser, secrets.require("postgres_superuser_password")
        dbname = dbname or "postgres"
    else:
        user, password = pg.user, secrets.require("postgres_password")
        dbname = dbname or pg.database
    return psycopg.connect(
        host=pg.host, port=pg.port, user=user, password=password, dbname=dbname, connect_timeout=5
    )


def can_connect(settings: Settings, secrets: Secrets, *, superuser: bool = False) -> bool:
    """True when a connection opens and answers ``SELECT 1``."""
    try:
        with connect(settings, secrets, superuser=superuser) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def ensure_database(settings: Settings, secrets: Secrets) -> None:
    """Create the project's login role and database if missing; keep the role's password in
    step with the secrets."""
    pg = settings.postgres
    with connect(settings, secrets, superuser=True) as conn:
        conn.autocommit = True
        role = sql.Identifier(pg.user)
        password = sql.Literal(secrets.require("postgres_password"))
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (pg.user,)).fetchone()
        verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
        conn.execute(sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(verb, role, password))
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (pg.database,)
        ).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(pg.database), role)
            )
            log.info("created database %s owned by %s", pg.database, pg.user)
