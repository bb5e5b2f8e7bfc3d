"""Alembic environment: on the engine's own connection, or on ``FILIERE_DATABASE_URL``.

Filiere migrates by itself: ``workflow.store.schema.migrate`` passes an open
connection (already in a transaction, serialised against other processes) and
this file only configures the migration context on it. An administrator may
also run ``alembic upgrade head`` from the project's root (``alembic.ini``):
the URL then comes from ``FILIERE_DATABASE_URL`` (or ``sqlalchemy.url`` in the
ini file), opened with the engine's settings and under the same lock.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import workflow.store.tables  # noqa: F401 - registers the tables on SQLModel.metadata
from workflow.store.db import make_engine, resolve_url
from workflow.store.schema import lock_migrations


def run_on(connection: Connection) -> None:
    """Configure the migration context on ``connection`` and run the migrations."""
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run_on(given)
else:
    url = resolve_url(context.config.get_main_option("sqlalchemy.url") or None)
    db = make_engine(url)
    try:
        with db.begin() as connection:
            lock_migrations(connection)
            run_on(connection)
    finally:
        db.dispose()
