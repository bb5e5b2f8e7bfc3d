"""Creating the schema and recording the machine definitions in use.

Alembic migrations take this over with the PostgreSQL work; until then
``create_all`` is idempotent and safe to run at every start.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from datetime import datetime

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from states import MachineDefinition
from workflow.canonical import GENESIS, dumps
from workflow.models import CHAIN_HEAD, DEFINITION, META


def ensure_schema(db: Engine, definitions: Iterable[MachineDefinition], now: datetime) -> None:
    """Create missing tables, the chain head and the definition rows."""
    SQLModel.metadata.create_all(db)
    wanted = {d.version: d for d in definitions}
    with db.begin() as connection:
        if connection.execute(select(CHAIN_HEAD.c.id)).first() is None:
            connection.execute(insert(CHAIN_HEAD).values(id=1, seq=0, hash=GENESIS))
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
    with db.connect() as connection:
        return connection.execute(select(META.c.value).where(META.c.key == key)).scalar()


def write_meta(db: Engine, key: str, value: str) -> None:
    """Set a value of the ``filiere_meta`` table (insert or replace)."""
    with db.begin() as connection:
        connection.execute(META.delete().where(META.c.key == key))
        connection.execute(insert(META).values(key=key, value=value))
