"""PostgreSQL connections for the project's roles, and creation of its roles and databases.

Roles: the owner (``postgres.user``) owns the database and runs the migrations; the loader
(``postgres.loader_user``, member of ``lakehouse_writer``) writes the warehouse, its load log and
the operations tables and nothing else; the reader (``postgres.reader_user``, member of
``lakehouse_reader``) is the dashboards' read-only login. A namespace gets a database of its own
(``Settings.warehouse_database``) so that several pipelines can share one cluster.
"""

from __future__ import annotations

import logging
from typing import Literal

import psycopg
from psycopg import sql

from lakehouse.errors import LakehouseError
from lakehouse.settings import Secrets, Settings

log = logging.getLogger(__name__)

Role = Literal["owner", "loader", "reader", "superuser"]
WRITER_GROUP, READER_GROUP = "lakehouse_writer", "lakehouse_reader"


class MissingDatabaseError(LakehouseError, psycopg.OperationalError):
    """The database a connection asked for does not exist (yet). Also an OperationalError, so
    that callers treating an unreachable PostgreSQL as a warning (the audit anchor) go on."""


def role_login(settings: Settings, role: Role) -> tuple[str, str]:
    """The user name of ``role`` and the name of the secret holding its password."""
    pg = settings.postgres
    return {
        "owner": (pg.user, "postgres_password"),
        "loader": (pg.loader_user, "postgres_loader_password"),
        "reader": (pg.reader_user, "postgres_reader_password"),
        "superuser": (pg.superuser, "postgres_superuser_password"),
    }[role]


def connect(
    settings: Settings, secrets: Secrets, *, role: Role = "owner", dbname: str | None = None
) -> psycopg.Connection:
    """A connection as ``role`` to ``dbname`` (default: the namespace's warehouse database;
    the superuser's default is ``postgres``). A database that does not exist is a
    ``MissingDatabaseError`` naming the command that creates it."""
    pg = settings.postgres
    user, secret = role_login(settings, role)
    if dbname is None:
        dbname = "postgres" if role == "superuser" else settings.warehouse_database
    try:
        return psycopg.connect(
            host=pg.host,
            port=pg.port,
            user=user,
            password=secrets.require(secret),
            dbname=dbname,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        if f'database "{dbname}" does not exist' not in str(exc):
            raise
        namespace = f"LAKEHOUSE_NAMESPACE={settings.namespace} " if settings.namespace else ""
        raise MissingDatabaseError(
            f"PostgreSQL at {pg.host}:{pg.port} has no database {dbname}: create it and its "
            f"tables with `{namespace}lakehouse migrate`"
        ) from None


def can_connect(settings: Settings, secrets: Secrets, *, role: Role = "owner") -> bool:
    """True when a connection opens and answers ``SELECT 1``."""
    try:
        with connect(settings, secrets, role=role) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def ensure_roles(conn: psycopg.Connection, settings: Settings, secrets: Secrets) -> None:
    """As the superuser: the group roles the migrations grant to, and the login roles (owner,
    loader, reader) with their passwords kept in step with the secrets."""
    for group in (WRITER_GROUP, READER_GROUP):
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (group,)).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(group)))
    members: dict[Role, str | None] = {
        "owner": None,
        "loader": WRITER_GROUP,
        "reader": READER_GROUP,
    }
    for role, group in members.items():
        user, secret = role_login(settings, role)
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                sql.SQL("ALTER") if exists else sql.SQL("CREATE"),
                sql.Identifier(user),
                sql.Literal(secrets.require(secret)),
            )
        )
        if group:
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(user))
            )


def ensure_database(settings: Settings, secrets: Secrets) -> None:
    """Create the roles and the namespace's database (owned by the owner role) if missing,
    then apply the migrations to it."""
    from warehouse.migrate import migrate

    database = settings.warehouse_database
    with connect(settings, secrets, role="superuser") as conn:
        conn.autocommit = True
        ensure_roles(conn, settings, secrets)
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(settings.postgres.user)
                )
            )
            log.info("created database %s owned by %s", database, settings.postgres.user)
    with connect(settings, secrets) as conn:
        migrate(conn)


def drop_database(settings: Settings, secrets: Secrets) -> None:
    """Drop the namespace's database (closing its connections); the default one is kept."""
    if not settings.namespace:
        raise ValueError("only a namespace's database is dropped")
    with connect(settings, secrets, role="superuser") as conn:
        conn.autocommit = True
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(settings.warehouse_database)
            )
        )
