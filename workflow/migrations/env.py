"""Alembic environment: runs on the connection the engine hands over.

Filiere never runs Alembic through an ``alembic.ini``: ``workflow.schema``
passes an open connection (already in a transaction, serialised against other
processes), and this file only configures the migration context on it.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import workflow.models  # noqa: F401 - registers the tables on SQLModel.metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
