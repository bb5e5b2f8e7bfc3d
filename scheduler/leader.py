"""One scheduler at a time: who holds the lock schedules, the others wait or refuse.

PostgreSQL: a session-level advisory lock taken on a dedicated connection,
kept open for the life of the process and never returned to a pool (a pool's
reset or recycle would silently drop it; LIBRARIES.md 2.6). Standbys poll for
the lock and take over when the leader's connection dies. SQLite: an
exclusive ``flock`` on a file beside the database's real file (symlinks and
relative spellings resolved, so every path to one database names one lock); a
second scheduler on the same database refuses to start. Either way the jobs are idempotent, so leadership
is an optimisation, not the guarantee.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import Connection, text

from workflow import AlreadyRunning, Engine


class Leader(Protocol):
    """The lock a scheduler holds while it schedules."""

    def acquire(self, *, wait: bool) -> bool:
        """Take the lock; with ``wait``, block until it is free."""

    def held(self) -> bool:
        """Whether the lock is still ours (checked periodically)."""

    def release(self) -> None:
        """Give the lock up."""


class FileLeader:
    """SQLite: an exclusive lock on ``<database>.scheduler.lock``, beside the database's real file.

    The lock is keyed on the resolved path: ``x.db``, ``./x.db``, its absolute
    path and a symlink to it are one database, so they must be one lock (two
    schedulers on one file would each believe it leads).
    """

    def __init__(self, database: str) -> None:
        self.path = Path(f"{lock_key(database)}.scheduler.lock")
        self._file: IO[str] | None = None

    def acquire(self, *, wait: bool = False) -> bool:
        """Take the file lock, or raise AlreadyRunning naming the holder."""
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(f"{self.path} is held by process {holder}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return True

    def held(self) -> bool:
        """A file lock lasts as long as the process: held once acquired."""
        return self._file is not None

    def release(self) -> None:
        """Unlock and close."""
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def holder(self) -> str | None:
        """Who leads now: ``process PID``, or None (read-only: the lock is only tested)."""
        if not self.path.exists():
            return None
        with self.path.open("r") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return f"process {handle.read().strip() or 'unknown'}"
            fcntl.flock(handle, fcntl.LOCK_UN)
        return None


def lock_key(database: str) -> str:
    """The real file behind a SQLite database path: symlinks followed, made absolute."""
    if database in ("", ":memory:"):
        return database
    return os.path.realpath(database)


class AdvisoryLeader:
    """PostgreSQL: a session advisory lock on a connection of its own."""

    def __init__(self, engine: Engine, poll_seconds: float = 1.0) -> None:
        self.engine = engine
        self.poll_seconds = poll_seconds
        self._connection: Connection | None = None
        self.key = 0

    def _connect(self) -> Connection:
        connection = self.engine.db.connect()
        connection.detach()  # never back to the pool: closing it ends the session, and the lock
        where = connection.execute(text("SELECT current_database(), current_schema()")).one()
        digest = hashlib.sha256(f"filiere-scheduler:{where[0]}:{where[1]}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        connection.commit()
        return connection

    def acquire(self, *, wait: bool = True) -> bool:
        """Try the lock; with ``wait``, poll until it is ours."""
        if self._connection is None:
            self._connection = self._connect()
        while True:
            got = bool(
                self._connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            )
            self._connection.commit()
            if got or not wait:
                return got
            time.sleep(self.poll_seconds)

    def held(self) -> bool:
        """Ask the server whether our session still holds the lock."""
        if self._connection is None:
            return False
        try:
            found = self._connection.execute(
                text(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                    "AND granted AND ((classid::bigint << 32) | objid::bigint) = (:k)::bigint"
                ),
                {"k": self.key},
            ).first()
            self._connection.commit()
        except Exception:
            return False
        return found is not None

    def holder(self) -> str | None:
        """Who leads now: the server process holding the lock, its client and since when, or None."""
        with self.engine.db.connect() as connection:
            where = connection.execute(text("SELECT current_database(), current_schema()")).one()
            digest = hashlib.sha256(f"filiere-scheduler:{where[0]}:{where[1]}".encode()).digest()
            found = connection.execute(
                text(
                    "SELECT a.pid, a.client_addr, a.backend_start FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                    "AND ((l.classid::bigint << 32) | l.objid::bigint) = (:k)::bigint"
                ),
                {"k": int.from_bytes(digest[:8], "big", signed=True)},
            ).first()
        if found is None:
            return None
        client, since = found.client_addr or "local socket", f"{found.backend_start:%Y-%m-%d %H:%M:%S %Z}"
        return f"server process {found.pid} (client {client}, connected {since})"

    def release(self) -> None:
        """Close the session: the server drops the lock."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def current_leader(engine: Engine) -> str | None:
    """Which process schedules this database now (for people: the console), or None."""
    leader = leader_for(engine)
    holder: str | None = leader.holder()
    return holder


def leader_for(engine: Engine) -> Any:
    """The right kind of lock for the engine's database."""
    if engine.db.dialect.name == "sqlite":
        return FileLeader(str(engine.db.url.database))
    return AdvisoryLeader(engine)
