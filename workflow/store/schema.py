"""Bringing a database to the latest schema, and recording the machine definitions.

The schema is managed by Alembic migrations (``workflow/store/migrations``), run on
the engine's own connection inside one transaction: on PostgreSQL under an
advisory lock, so that processes starting together migrate once; on SQLite
under ``BEGIN IMMEDIATE``. A database already at :data:`HEAD` costs one query
and never imports Alembic.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from contextlib import suppress
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from states import MachineDefinition
from workflow.canonical import dumps
from workflow.store.db import reading
from workflow.store.tables import DEFINITION, META

#: The newest migration; ``tests/workflow/test_migrations.py`` pins it to Alembic's head.
HEAD = "0005"


def current_revision(db: Engine) -> str | None:
    """The schema revision of ``db``, or ``None`` for a database never migrated."""
    try:
        with reading(db) as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        return None
    return None if revision is None else str(revision)


def migrate(db: Engine, revision: str = "head", *, down: bool = False) -> None:
    """Run the migrations up to ``revision`` (``head`` by default), or down to it."""
    from alembic import command
    from alembic.config import Config

    logging.getLogger("alembic").setLevel(logging.WARNING)
    config = Config()
    config.set_main_option("script_location", "workflow.store:migrations")
    with db.begin() as connection:
        lock_migrations(connection)
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def lock_migrations(connection: Connection) -> None:
    """On PostgreSQL, wait for any other process migrating the same schema (until commit).

    The key names the database and the schema: processes migrating other
    schemas of the same server (a schema per tenant, or per test) do not wait
    for each other.
    """
    if connection.dialect.name != "postgresql":
        return
    database, schema = connection.execute(text("SELECT current_database(), current_schema()")).one()
    digest = hashlib.sha256(f"filiere-migrations:{database}:{schema}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def ensure_schema(db: Engine, definitions: Iterable[MachineDefinition], now: datetime) -> None:
    """Migrate to :data:`HEAD` if needed; record the machine definitions."""
    if current_revision(db) != HEAD:
        migrate(db)
    wanted = {d.version: d for d in definitions}
    with db.begin() as connection:
        known = set(connection.execute(select(DEFINITION.c.version)).scalars())
        missing = [d for v, d in wanted.items() if v not in known]
        if missing:
            # Another process may record them first: the rows are equal by construction.
            with suppress(IntegrityError):
                connection.execute(
                    insert(DEFINITION),
                    [
                        {
                            "version": d.version,
                            "name": d.name,
                            "content": dumps(d.content()).decode(),
                            "first_seen": now,
                        }
                        for d in missing
                    ],
                )


def read_meta(db: Engine, key: str) -> str | None:
    """A value of the ``filiere_meta`` table."""
    with reading(db) as connection:
        value = connection.execute(select(META.c.value).where(META.c.key == key)).scalar()
    return None if value is None else str(value)


def write_meta(db: Engine, key: str, value: str) -> None:
    """Set a value of the ``filiere_meta`` table (insert or replace)."""
    with db.begin() as connection:
        connection.execute(META.delete().where(META.c.key == key))
        connection.execute(insert(META).values(key=key, value=value))


def open_existing(url: str | None) -> Engine:
    """Open a database that already holds Filiere's schema, for reading (the auditor's tools).

    Unlike :class:`workflow.engine.Engine`, which creates and migrates what it
    opens, an audit must never create an empty database where the operator
    mistyped a path and then report "0 events, chain ok".
    """
    from workflow.errors import DatabaseUnavailable
    from workflow.store.db import check_url, make_engine

    resolved = check_url(url, must_exist=True)
    db = make_engine(resolved)
    if current_revision(db) is None:
        db.dispose()
        raise DatabaseUnavailable(f"{resolved} holds no Filiere schema (run `filiere init`)")
    return db
