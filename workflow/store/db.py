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

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from workflow.errors import ConfigurationError, DatabaseUnavailable

#: The environment variable that names the database.
URL_VARIABLE = "FILIERE_DATABASE_URL"
#: The database used when neither ``--db`` nor the variable says otherwise.
DEFAULT_URL = "sqlite:///filiere.db"
_BUSY_TIMEOUT_MS = 30_000
#: The URL schemes Filiere runs on (``postgresql`` means ``postgresql+psycopg``).
SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
#: What pip installs for PostgreSQL: named in the error when the driver is missing.
POSTGRES_EXTRA = "pip install 'filiere[postgres]'"
_SQLITE_MAGIC = b"SQLite format 3\x00"


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


def sqlite_path(url: str | None = None) -> Path | None:
    """The file a SQLite URL names, or ``None`` for another database."""
    resolved = resolve_url(url)
    if not resolved.startswith("sqlite:"):
        return None
    try:
        database = make_url(resolved).database
    except ArgumentError as exc:
        raise DatabaseUnavailable(f"not a database URL Filiere can open: {resolved!r}") from exc
    return Path(database) if database and database != ":memory:" else None


def check_url(url: str | None = None, *, must_exist: bool = False) -> str:
    """Refuse, before anything is opened or created, a URL Filiere cannot use; return it resolved.

    A mistyped ``--db`` must not silently become a new empty database (``must_exist``), and a
    file that is not SQLite, a scheme we do not run on or a missing driver must be one line, not
    a driver's traceback.

    Raises:
        ConfigurationError: an unsupported scheme.
        DatabaseUnavailable: no such SQLite file (with ``must_exist``), a file that is not a SQLite
            database, or PostgreSQL without its driver.
    """
    resolved = resolve_url(url)
    scheme = resolved.split("://", 1)[0]
    if scheme not in SCHEMES:
        raise ConfigurationError(
            "database URL", "scheme", f"unsupported scheme {scheme!r}: use sqlite:///FILE or postgresql://..."
        )
    path = sqlite_path(resolved)
    if path is None:
        if scheme == "sqlite":
            raise DatabaseUnavailable("in-memory SQLite is not supported: use a file")
        _check_driver()
        return resolved
    if path.is_dir():
        raise DatabaseUnavailable(f"{path} is a folder, not a SQLite database")
    if not path.exists():
        if must_exist:
            raise DatabaseUnavailable(f"no database at {path}: create it with `filiere init`")
        return resolved
    try:
        with path.open("rb") as handle:
            start = handle.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot read {path}: {exc.strerror}") from exc
    if start and start != _SQLITE_MAGIC:  # an empty file is a SQLite database yet to be written
        raise DatabaseUnavailable(f"{path} is not a SQLite database")
    return resolved


def _check_driver() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise DatabaseUnavailable(f"the PostgreSQL driver is not installed: {POSTGRES_EXTRA}") from exc


def make_engine(url: str | None = None, **options: Any) -> Engine:
    """Create a SQLAlchemy engine with the settings Filiere relies on."""
    resolved = check_url(url)
    if resolved.startswith("sqlite"):
        engine = create_engine(resolved, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    try:
        return create_engine(resolved, pool_pre_ping=True, **options)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
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


def snapshot(engine: Engine) -> Any:
    """A read-only connection that sees one snapshot throughout (REPEATABLE READ on PostgreSQL).

    For readers of the whole log: the sealer may commit between their queries
    (sealed events, then those not sealed yet), and an event must be seen once.
    SQLite's read transaction already is one snapshot.
    """
    connection = reading(engine)
    if is_sqlite(engine):
        return connection
    return connection.execution_options(isolation_level="REPEATABLE READ")


def is_sqlite(engine: Engine) -> bool:
    """Whether ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def unavailable(exc: OperationalError) -> DatabaseUnavailable:
    """Translate a driver's operational error into ours, keeping its first line."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return DatabaseUnavailable(text.splitlines()[0] if text else "unknown error")
