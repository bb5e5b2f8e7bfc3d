"""SQL for one transaction: Core statements on the SQLModel tables.

The ORM session costs about 1 ms per transition (PERFORMANCE.md item 2); these
statements do the same work for a fraction of it. Everything here runs on a
connection whose transaction the engine opened and will commit or roll back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from handlers.base import ListVersion, Snapshot
from workflow.canonical import GENESIS, chain_hash, dumps, event_bytes, hashed_members, timestamp
from workflow.store import firesql
from workflow.store.tables import ENTITY, EVENT, LIST_ENTRY, LIST_VERSION


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as committed: what :meth:`workflow.Engine.fire` returns.

    ``replayed`` is true when an idempotent retry returned an earlier event;
    ``dry_run`` when the event was computed and rolled back (nothing written).
    ``request_hash`` is the digest of an idempotent request (``None`` without
    a key); the hash covers it (``canonical.hashed_members``).
    """

    seq: int
    entity_kind: str
    entity_id: str
    entity_version: int
    trigger: str
    from_state: str | None
    to_state: str
    actor: str
    role: str
    occurred_at: datetime
    effective_at: datetime
    payload: Mapping[str, Any]
    definition_version: str
    cause_seq: int | None
    idempotency_key: str | None
    prev_hash: str
    hash: str
    replayed: bool = False
    dry_run: bool = False
    request_hash: str | None = None
    #: The sealed global position (1, 2, 3…), ``None`` until the sealer has reached the event.
    position: int | None = None

    def hashed_fields(self) -> dict[str, Any]:
        """The fields the hash covers, in canonical form."""
        return hashed_members(
            {
                "seq": self.seq,
                "entity_kind": self.entity_kind,
                "entity_id": self.entity_id,
                "entity_version": self.entity_version,
                "trigger": self.trigger,
                "from_state": self.from_state,
                "to_state": self.to_state,
                "actor": self.actor,
                "role": self.role,
                "occurred_at": timestamp(self.occurred_at),
                "effective_at": timestamp(self.effective_at),
                "payload": self.payload,
                "definition_version": self.definition_version,
                "cause_seq": self.cause_seq,
                "idempotency_key": self.idempotency_key,
                "prev_hash": self.prev_hash,
                "request_hash": self.request_hash,
            }
        )

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object: the hashed fields, its hash, and its position once sealed."""
        out = {**self.hashed_fields(), "hash": self.hash}
        if self.position is not None:
            out["position"] = self.position
        return out

    def report(self) -> dict[str, Any]:
        """The event for people and scripts: ``to_json`` plus whether it was replayed or a dry run."""
        return {**self.to_json(), "replayed": self.replayed, "dry_run": self.dry_run}


def event_from_row(row: Any, *, replayed: bool = False) -> StoredEvent:
    """Build a :class:`StoredEvent` from a selected ``event`` row."""
    m = row._mapping
    return StoredEvent(
        seq=m["seq"],
        entity_kind=m["entity_kind"],
        entity_id=m["entity_id"],
        entity_version=m["entity_version"],
        trigger=m["trigger"],
        from_state=m["from_state"],
        to_state=m["to_state"],
        actor=m["actor"],
        role=m["role"],
        occurred_at=m["occurred_at"],
        effective_at=m["effective_at"],
        payload=orjson.loads(m["payload"]),
        definition_version=m["definition_version"],
        cause_seq=m["cause_seq"],
        idempotency_key=m["idempotency_key"],
        prev_hash=m["prev_hash"],
        hash=m["hash"],
        replayed=replayed,
        request_hash=m["request_hash"],
        position=m.get("position"),
    )


def snapshot_from_row(row: Any) -> Snapshot:
    """Build a :class:`Snapshot` from a selected ``entity`` row."""
    m = row._mapping
    return Snapshot(
        kind=m["kind"],
        id=m["id"],
        state=m["state"],
        version=m["version"],
        data=orjson.loads(m["data"]),
        parent_id=m["parent_id"],
    )


# Built once: building a statement and its cache key costs more than executing it (the
# statements of every fire are in firesql.py; this one runs for every protocol number and id).
# One upsert: without a global lock two writers may create the same counter at once, and the
# row lock of ON CONFLICT DO UPDATE is what orders them (both backends support it).
_BUMP = (
    "INSERT INTO counter (name, value) VALUES ({n}, 1)"
    " ON CONFLICT (name) DO UPDATE SET value = counter.value + 1 RETURNING value"
)


def insert_entity(connection: Connection, values: dict[str, Any]) -> None:
    """Insert a new entity row."""
    firesql.insert_entity(connection, values)


def update_entity(connection: Connection, current: Snapshot, state: str, data: str, now: datetime) -> int:
    """Move ``current`` to ``state`` with ``data`` if its version is still the one read; rows changed."""
    return firesql.update_entity(connection, current, state, data, now)


class TxReader:
    """The :class:`handlers.Reader` of one transaction."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, kind: str, entity_id: str) -> Snapshot | None:
        """The entity as stored in this transaction, or ``None``."""
        return firesql.read_entity(self._c, kind, entity_id, lock=False)

    def lock(self, kind: str, entity_id: str) -> Snapshot | None:
        """Like :meth:`get`, locking the row on PostgreSQL (SQLite holds the write lock)."""
        return firesql.read_entity(self._c, kind, entity_id, lock=True)

    def find(self, kind: str, *, parent_id: str, state: str | None = None) -> Sequence[Snapshot]:
        """Entities of ``kind`` under ``parent_id``, optionally in ``state``, by id."""
        query = select(ENTITY).where(ENTITY.c.kind == kind, ENTITY.c.parent_id == parent_id)
        if state is not None:
            query = query.where(ENTITY.c.state == state)
        return [snapshot_from_row(r) for r in self._c.execute(query.order_by(ENTITY.c.id))]

    def list_version(self, call_id: str) -> ListVersion | None:
        """The latest approved list version of ``call_id``."""
        return list_version_as_of(self._c, call_id, None)


def list_version_as_of(connection: Connection, call_id: str, moment: datetime | None) -> ListVersion | None:
    """The list version of ``call_id`` in force at ``moment`` (latest if ``None``)."""
    query = select(LIST_VERSION).where(LIST_VERSION.c.call_id == call_id)
    if moment is not None:
        query = query.where(LIST_VERSION.c.approved_at <= moment)
    row = connection.execute(query.order_by(LIST_VERSION.c.number.desc()).limit(1)).first()
    if row is None:
        return None
    entries = connection.execute(
        select(LIST_ENTRY.c.proposal_id)
        .where(LIST_ENTRY.c.call_id == call_id, LIST_ENTRY.c.number == row.number)
        .order_by(LIST_ENTRY.c.proposal_id)
    ).scalars()
    return ListVersion(
        call_id=call_id,
        number=row.number,
        decree_id=row.decree_id,
        approved_at=row.approved_at,
        proposal_ids=tuple(entries),
    )


def allocate(connection: Connection, name: str) -> int:
    """Increment the counter ``name`` (creating it at 1) and return its value, holding its row lock."""
    pg = connection.dialect.name == "postgresql"
    statement = _BUMP.format(n="%(n)s" if pg else ":n")
    return int(firesql.run_sql(connection, statement, {"n": name}).fetchone()[0])


def append(
    connection: Connection,
    fields: dict[str, Any],
    request_hash: str | None,
    payload_json: bytes | None = None,
) -> StoredEvent:
    """Append one event, chained to its entity's previous event, unsealed; return it.

    The caller holds the entity's row lock (or has just inserted the entity),
    so no other writer can chain to the same event. ``payload_json`` is the
    payload's canonical JSON when the caller has it already: it is stored and
    hashed as it stands instead of dumped twice more.
    """
    seq, last = firesql.link(connection, fields["entity_kind"], fields["entity_id"])
    prev = last or GENESIS
    fields = {**fields, "seq": seq, "prev_hash": prev}
    payload_json = payload_json if payload_json is not None else dumps(fields["payload"])
    canonical = {
        **fields,
        "occurred_at": timestamp(fields["occurred_at"]),
        "effective_at": timestamp(fields["effective_at"]),
        "payload": orjson.Fragment(payload_json),
        "request_hash": request_hash,
    }
    digest = chain_hash(prev, event_bytes(canonical))
    firesql.insert_event(
        connection,
        {
            **fields,
            "payload": payload_json.decode(),
            "request_hash": request_hash,
            "hash": digest,
        },
    )
    return StoredEvent(**fields, hash=digest, request_hash=request_hash)


def find_by_key(connection: Connection, key: str) -> tuple[StoredEvent, str | None] | None:
    """The event stored under an idempotency key, with its request hash."""
    row = connection.execute(select(EVENT).where(EVENT.c.idempotency_key == key)).first()
    return (event_from_row(row, replayed=True), row.request_hash) if row is not None else None


def head_seq(connection: Connection) -> int:
    """The last insertion number (0 for an empty log)."""
    return int(connection.execute(select(func.coalesce(func.max(EVENT.c.seq), 0))).scalar_one())
