"""Opening a database: SQLite (embedded default) or PostgreSQL, set up safely.

SQLite: WAL, ``synchronous=FULL`` (a receipt once given survives a power
loss), foreign keys, a busy timeout, and ``BEGIN IMMEDIATE`` for every
transaction so that two writers queue instead of failing with "database is
locked" (LIBRARIES.md section 5).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from workflow.errors import DatabaseUnavailable

#: The environment variable that names the database.
URL_VARIABLE = "FILIERE_DATABASE_URL"
#: The database used when neither ``--db`` nor the variable says otherwise.
DEFAULT_URL = "sqlite:///filiere.db"
_BUSY_TIMEOUT_MS = 30_000


def resolve_url(url: str | None = None) -> str:
    """The database URL: the argument, else ``FILIERE_DATABASE_URL``, else ``./filiere.db``.

    A plain path (no ``scheme://``) names a SQLite file: operators type
    ``--db filiere.db`` far more often than the URL.
    """
    chosen = url or os.environ.get(URL_VARIABLE) or DEFAULT_URL
    if "://" not in chosen:
        chosen = sqlite_url(chosen)
    if chosen.startswith("postgresql://"):
        chosen = "postgresql+psycopg://" + chosen.removeprefix("postgresql://")
    return chosen


def sqlite_url(path: str | Path) -> str:
    """The URL of a SQLite file."""
    return f"sqlite:///{Path(path)}"


def make_engine(url: str | None = None, **options: Any) -> Engine:
    """Create a SQLAlchemy engine with the settings Filiere relies on."""
    resolved = resolve_url(url)
    if resolved.startswith("sqlite"):
        if resolved in ("sqlite://", "sqlite:///:memory:"):
            raise DatabaseUnavailable("in-memory SQLite is not supported: use a file")
        engine = create_engine(resolved, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    try:
        return create_engine(resolved, pool_pre_ping=True, **options)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise DatabaseUnavailable(f"not a database URL Filiere can open: {resolved!r}") from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        f"busy_timeout={_BUSY_TIMEOUT_MS}",
        "foreign_keys=ON",
    ):
        dbapi_connection.execute(f"PRAGMA {pragma}")


#: Execution option marking a read-only connection: it begins a deferred
#: transaction, so readers never queue behind (or block) the single writer.
READ_ONLY = "filiere_read_only"


def _begin_immediate(connection: Any) -> None:
    from workflow.store.firesql import run_sql  # sent to the driver: ~50 µs less per transaction

    run_sql(connection, "BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


def reading(engine: Engine) -> Any:
    """A connection for reads only (a context manager); on SQLite it does not take the write lock."""
    return engine.connect().execution_options(**{READ_ONLY: True})


def is_sqlite(engine: Engine) -> bool:
    """Whether ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def unavailable(exc: OperationalError) -> DatabaseUnavailable:
    """Translate a driver's operational error into ours, keeping its first line."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return DatabaseUnavailable(text.splitlines()[0] if text else "unknown error")
