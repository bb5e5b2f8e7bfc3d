"""The tables: entities (current state), the event log, and what queries need.

The event log is the truth; ``entity``, ``list_version`` and ``list_entry``
are projections the engine keeps in the same transaction and replay can rebuild.
States are plain strings (no database enums: a new state needs no migration),
payloads are canonical JSON text, times are aware UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, Text, text
from sqlmodel import Field, SQLModel

# Named constraints, so that Alembic's batch mode can alter them on SQLite later.
SQLModel.metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Entity(SQLModel, table=True):
    """The current state of every proposal, call, decree, partnership, evaluator."""

    __tablename__ = "entity"
    __table_args__ = (Index("ix_entity_parent_state", "kind", "parent_id", "state"),)

    kind: str = Field(primary_key=True, max_length=32)
    id: str = Field(primary_key=True, max_length=300)
    state: str = Field(max_length=64)
    version: int
    parent_id: str | None = Field(default=None, max_length=300)
    data: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime
    updated_at: datetime


class Event(SQLModel, table=True):
    """One committed transition: the append-only audit log, hash-chained per entity.

    ``seq`` is the insertion number, taken when the event is written (unique,
    increasing along each entity; on PostgreSQL from a sequence, so it may have
    gaps and is not commit order). ``position`` is the audited global order:
    given by the sealer after commit, 1, 2, 3… with no gap, the event's leaf in
    the Merkle tree being ``position - 1``; ``NULL`` until sealed.
    """

    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_entity", "entity_kind", "entity_id", "seq"),
        Index("ix_event_occurred_at", "occurred_at"),  # as-of queries and time-range exports
        Index("ix_event_position", "position", unique=True),
        # What the sealer looks for: small, because sealed rows leave it.
        Index(
            "ix_event_unsealed",
            "seq",
            sqlite_where=text("position IS NULL"),
            postgresql_where=text("position IS NULL"),
        ),
    )

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    entity_kind: str = Field(max_length=32)
    entity_id: str = Field(max_length=300)
    entity_version: int
    trigger: str = Field(max_length=64)
    from_state: str | None = Field(default=None, max_length=64)
    to_state: str = Field(max_length=64)
    actor: str = Field(max_length=200)
    role: str = Field(max_length=32)
    occurred_at: datetime
    effective_at: datetime
    payload: str = Field(sa_column=Column(Text, nullable=False))
    definition_version: str = Field(max_length=64)
    cause_seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
    request_hash: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    position: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class TreeNode(SQLModel, table=True):
    """A complete subtree of the Merkle tree: ``2**level`` leaves from leaf ``idx * 2**level``.

    Written once, when it becomes complete, never changed: any past tree's
    root and any proof are folds of O(log n) of these rows.
    """

    __tablename__ = "tree_node"

    level: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: str = Field(max_length=64)


class TreeHead(SQLModel, table=True):
    """The sealed tree: its size (the last position) and root. One row, written only by the sealer."""

    __tablename__ = "tree_head"

    id: int = Field(default=1, primary_key=True)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    root: str = Field(max_length=64)


class Counter(SQLModel, table=True):
    """Named counters (protocol numbers per call, generated ids per kind)."""

    __tablename__ = "counter"

    name: str = Field(primary_key=True, max_length=200)
    value: int = Field(sa_column=Column(BigInteger, nullable=False))


class Definition(SQLModel, table=True):
    """Every machine definition version an event was ever fired under."""

    __tablename__ = "definition"

    version: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=32)
    content: str = Field(sa_column=Column(Text, nullable=False))
    first_seen: datetime


class ListVersion(SQLModel, table=True):
    """A version of a call's list of recognised proposals, approved by a decree."""

    __tablename__ = "list_version"

    call_id: str = Field(primary_key=True, max_length=300)
    number: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    decree_id: str = Field(max_length=300)
    approved_at: datetime


class ListEntry(SQLModel, table=True):
    """One proposal in one list version."""

    __tablename__ = "list_entry"

    call_id: str = Field(primary_key=True, max_length=300)
    number: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    proposal_id: str = Field(primary_key=True, max_length=300)


class Meta(SQLModel, table=True):
    """Facts about the database itself (schema version, simulation flag)."""

    __tablename__ = "filiere_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=2000)


class ApiKey(SQLModel, table=True):
    """A key another system uses on the HTTP API: it acts as one actor, in one role.

    Only a SHA-256 of the secret is stored: the secret is 32 random bytes, shown
    once at creation, so a slow password hash would add nothing but latency.
    """

    __tablename__ = "api_key"

    id: str = Field(primary_key=True, max_length=32)
    secret_hash: str = Field(max_length=64)
    actor: str = Field(max_length=200)
    role: str = Field(max_length=32)
    note: str = Field(default="", max_length=500)
    created_at: datetime
    revoked_at: datetime | None = None


class Webhook(SQLModel, table=True):
    """A URL every committed event is delivered to, in order, at least once.

    The event log is the outbox: each event is written in the same transaction
    as the change it records, so ``delivered_seq`` (the last event the URL
    acknowledged) is all a delivery needs to resume after any crash; ``attempts``,
    ``next_attempt_at`` and ``last_error`` keep the back-off across restarts. The URL
    holds no credentials: those typed in it are kept in ``credentials``, never listed.
    """

    __tablename__ = "webhook"

    id: str = Field(primary_key=True, max_length=32)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=200)
    credentials: str | None = Field(default=None, max_length=2000)
    allow_private: bool = False
    delivered_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str = Field(default="", max_length=2000)
    created_at: datetime
    disabled_at: datetime | None = None


ENTITY = Entity.__table__  # type: ignore[attr-defined]
EVENT = Event.__table__  # type: ignore[attr-defined]
TREE_NODE = TreeNode.__table__  # type: ignore[attr-defined]
TREE_HEAD = TreeHead.__table__  # type: ignore[attr-defined]
COUNTER = Counter.__table__  # type: ignore[attr-defined]
DEFINITION = Definition.__table__  # type: ignore[attr-defined]
LIST_VERSION = ListVersion.__table__  # type: ignore[attr-defined]
LIST_ENTRY = ListEntry.__table__  # type: ignore[attr-defined]
META = Meta.__table__  # type: ignore[attr-defined]
API_KEY = ApiKey.__table__  # type: ignore[attr-defined]
WEBHOOK = Webhook.__table__  # type: ignore[attr-defined]
