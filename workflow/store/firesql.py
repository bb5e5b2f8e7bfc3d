"""The five statements every fire runs, sent to the driver directly.

Through SQLAlchemy each statement costs ~50-70 µs of Python before the driver
sees it (execution context, result set-up, type processing): six of them were
more than the SQLite commit itself (``bench/durable_fire.py``, issue 9). These
run on the very DBAPI connection of the engine's transaction, so they are in
that transaction; driver errors are wrapped as SQLAlchemy's own (an
``IntegrityError`` stays an ``IntegrityError``), so the engine's handling does
not change. Only fixed statements on the engine's own tables live here; every
other query stays on SQLAlchemy Core.

Times are bound as each backend stores them through ``UTCDateTime``: naive UTC
text on SQLite (SQLAlchemy's own format), aware datetimes on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from handlers.base import Snapshot
from workflow.canonical import HASHED_FIELDS

#: The columns an event is written with: the hashed fields, the request's digest, the hash.
EVENT_COLUMNS = (*HASHED_FIELDS, "request_hash", "hash")
#: The columns :func:`event_rows` reads: those, then the sealed position.
ROW_COLUMNS = (*EVENT_COLUMNS, "position")


def _marker(pg: bool) -> Callable[[str], str]:
    """The driver's named-parameter marker: psycopg's ``%(name)s``, sqlite3's ``:name``."""
    return (lambda name: f"%({name})s") if pg else (lambda name: f":{name}")


@cache
def _sql(dialect: str) -> dict[str, str]:
    """The statements in the driver's own parameter style, with row locks where they exist."""
    pg = dialect == "postgresql"
    mark = _marker(pg)

    lock = " FOR UPDATE" if pg else ""  # SQLite: BEGIN IMMEDIATE already holds the write lock
    # The next insertion number (PostgreSQL's sequence never waits; SQLite's writer is alone) and
    # the entity's previous event, whose hash the new one chains to: the entity row is locked.
    number = "nextval('event_seq')" if pg else "(SELECT coalesce(max(seq), 0) + 1 FROM event)"
    return {
        "link": (
            f"SELECT {number}, (SELECT hash FROM event WHERE entity_kind = {mark('k')}"
            f" AND entity_id = {mark('i')} ORDER BY seq DESC LIMIT 1)"
        ),
        "entity": (
            "SELECT kind, id, state, version, data, parent_id FROM entity"
            f" WHERE kind = {mark('k')} AND id = {mark('i')}{lock}"
        ),
        "read": (
            "SELECT kind, id, state, version, data, parent_id FROM entity"
            f" WHERE kind = {mark('k')} AND id = {mark('i')}"
        ),
        "insert": (
            "INSERT INTO entity (kind, id, state, version, parent_id, data, created_at, updated_at)"
            f" VALUES ({mark('kind')}, {mark('id')}, {mark('state')}, {mark('version')}, {mark('parent_id')},"
            f" {mark('data')}, {mark('created_at')}, {mark('updated_at')})"
        ),
        "update": (
            f"UPDATE entity SET state = {mark('st')}, version = {mark('nv')}, data = {mark('d')},"
            f" updated_at = {mark('u')}"
            f" WHERE kind = {mark('k')} AND id = {mark('i')} AND version = {mark('v')}"
        ),
        "event": (
            f"INSERT INTO event ({', '.join(_quoted(c) for c in EVENT_COLUMNS)})"
            f" VALUES ({', '.join(mark(c) for c in EVENT_COLUMNS)})"
        ),
    }


def _quoted(column: str) -> str:
    return '"trigger"' if column == "trigger" else column


def _run(connection: Connection, name: str, params: Mapping[str, Any] | None = None) -> Any:
    """Execute one statement on the transaction's DBAPI connection; return the cursor."""
    return run_sql(connection, _sql(connection.dialect.name)[name], params)


def run_sql(connection: Connection, statement: str, params: Mapping[str, Any] | None = None) -> Any:
    """Execute ``statement`` on the DBAPI connection, driver errors wrapped as SQLAlchemy's."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement, params or {})
    except connection.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            statement, params, exc, connection.dialect.loaded_dbapi.Error, dialect=connection.dialect
        ) from exc
    return cursor


def stored_time(connection: Connection, moment: datetime) -> Any:
    """``moment`` as ``UTCDateTime`` binds it on this backend."""
    utc = moment.astimezone(UTC)
    if connection.dialect.name == "sqlite":
        return utc.isoformat(sep=" ", timespec="microseconds")[:26]
    return utc


def link(connection: Connection, kind: str, entity_id: str) -> tuple[int, str | None]:
    """A new event's insertion number, and the hash of its entity's last event (``None``: the first)."""
    row = _run(connection, "link", {"k": kind, "i": entity_id}).fetchone()
    return int(row[0]), row[1]


def read_entity(connection: Connection, kind: str, entity_id: str, *, lock: bool) -> Snapshot | None:
    """The entity row; with ``lock``, locked for this transaction on PostgreSQL."""
    row = _run(connection, "entity" if lock else "read", {"k": kind, "i": entity_id}).fetchone()
    if row is None:
        return None
    return Snapshot(
        kind=row[0], id=row[1], state=row[2], version=row[3], data=orjson.loads(row[4]), parent_id=row[5]
    )


def insert_entity(connection: Connection, values: Mapping[str, Any]) -> None:
    """A new entity row."""
    _run(
        connection,
        "insert",
        {
            **values,
            "created_at": stored_time(connection, values["created_at"]),
            "updated_at": stored_time(connection, values["updated_at"]),
        },
    )


def update_entity(connection: Connection, current: Snapshot, state: str, data: str, now: datetime) -> int:
    """Move ``current`` on if its version is still the one read; the number of rows changed."""
    params = {
        "k": current.kind,
        "i": current.id,
        "v": current.version,
        "st": state,
        "nv": current.version + 1,
        "d": data,
        "u": stored_time(connection, now),
    }
    return int(_run(connection, "update", params).rowcount)


def insert_event(connection: Connection, row: Mapping[str, Any]) -> None:
    """Append the event row (payload already JSON text), unsealed."""
    params = {
        **row,
        "occurred_at": stored_time(connection, row["occurred_at"]),
        "effective_at": stored_time(connection, row["effective_at"]),
    }
    _run(connection, "event", params)


def event_rows(
    connection: Connection,
    *,
    until_seq: int | None = None,
    as_of: datetime | None = None,
    batch: int = 2000,
    unsealed: bool = True,
) -> Iterator[tuple[Any, ...]]:
    """Event rows (``ROW_COLUMNS`` order), optionally cut, streamed from the driver.

    Sealed events first, in position order (the audited order), then, with
    ``unsealed``, those the sealer has not reached yet, by ``seq``. A
    server-side cursor on PostgreSQL, so a log of millions of rows is never
    held whole; SQLite's cursor streams by itself.
    """
    pg = connection.dialect.name == "postgresql"
    mark = _marker(pg)
    conditions, params = [], {}
    if until_seq is not None:
        conditions.append(f"seq <= {mark('until')}")
        params["until"] = until_seq
    if as_of is not None:
        conditions.append(f"occurred_at <= {mark('as_of')}")
        params["as_of"] = stored_time(connection, as_of)
    columns = ", ".join(_quoted(c) for c in ROW_COLUMNS)
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    parts = [("position IS NOT NULL", "position")] + ([("position IS NULL", "seq")] if unsealed else [])
    for condition, order in parts:
        where = " AND ".join([condition, *conditions])
        cursor = dbapi.cursor(name="filiere_event_rows") if pg else dbapi.cursor()
        try:
            cursor.execute(f"SELECT {columns} FROM event WHERE {where} ORDER BY {order}", params)
            while rows := cursor.fetchmany(batch):
                yield from rows
        finally:
            cursor.close()
