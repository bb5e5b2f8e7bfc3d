"""Who may read what over the HTTP API: least privilege by role and ownership.

Operators, evaluators, directors, the system and auditors read everything
(auditors fire nothing: the engine's role rules see to that). Any other role
(today: ``applicant``) reads only

- what is public: calls, measures (their budget and reservations are the
  funding decisions the region publishes), the list versions, and decrees
  from their approval (the approval event, and the decree as approved; its
  drafts and amendments stay internal);
- what it owns: the partnerships, proposals and applications whose ``owner``
  is its actor (a proposal takes its partnership's owner when it is drafted;
  an operator registering for an applicant names it), and every event of
  those entities, whoever fired it.

Evaluators' records (names, declared ties) and competitors' partnerships,
proposals and applications are not readable. An entity the caller may not see
answers 404 exactly as one that does not exist, so that probing ids tells an
applicant nothing; firing on it too. The policy is written once, as SQL
clauses on the ``entity`` and ``event`` tables, so that a single read, a list,
a history and the event feed cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, cast, func, or_, select, true
from sqlalchemy.dialects.postgresql import JSONB

from handlers.base import Snapshot
from workflow.errors import NotFound
from workflow.store.db import reading
from workflow.store.eventlog import StoredEvent, event_from_row, snapshot_from_row
from workflow.store.tables import ENTITY, EVENT

#: Roles that read everything.
READ_ALL = frozenset({"operator", "evaluator", "director", "system", "auditor"})
#: Kinds anyone with a key reads.
PUBLIC = ("call", "measure")
#: Kinds readable from one state on (and events reaching it).
PUBLIC_FROM = {"decree": "approved"}
#: Kinds that carry an ``owner`` (an applicant's account).
OWNED = ("partnership", "proposal", "application", "project")
#: At most this many events are read per feed request for a filtered reader: each page
#: costs a bounded amount of work however few of the events the reader may see.
SCAN = 10_000


@dataclass(frozen=True, slots=True)
class Reader:
    """Who is reading: the API key's actor and role."""

    actor: str
    role: str

    @property
    def reads_all(self) -> bool:
        """Whether nothing is filtered for this reader."""
        return self.role in READ_ALL


def _owner(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        owner: ColumnElement[Any] = cast(ENTITY.c.data, JSONB)["owner"].astext
        return owner
    return func.json_extract(ENTITY.c.data, "$.owner")


def entity_clause(reader: Reader, dialect: str) -> ColumnElement[bool]:
    """The ``entity`` rows ``reader`` may see."""
    if reader.reads_all:
        return true()
    return or_(
        ENTITY.c.kind.in_(PUBLIC),
        *(and_(ENTITY.c.kind == kind, ENTITY.c.state == state) for kind, state in PUBLIC_FROM.items()),
        and_(ENTITY.c.kind.in_(OWNED), _owner(dialect) == reader.actor),
    )


def event_clause(reader: Reader, dialect: str) -> ColumnElement[bool]:
    """The ``event`` rows ``reader`` may see (joined with their ``entity`` row).

    Decided by the event and its entity's owner, never by the entity's current
    state: an event visible once stays visible, so a feed follower that passed
    an event it could not see has missed nothing it will ever be shown.
    """
    if reader.reads_all:
        return true()
    return or_(
        EVENT.c.entity_kind.in_(PUBLIC),
        *(
            and_(EVENT.c.entity_kind == kind, EVENT.c.to_state == state)
            for kind, state in PUBLIC_FROM.items()
        ),
        and_(EVENT.c.entity_kind.in_(OWNED), _owner(dialect) == reader.actor),
    )


def _with_entity(query: Any) -> Any:
    return query.join(ENTITY, and_(ENTITY.c.kind == EVENT.c.entity_kind, ENTITY.c.id == EVENT.c.entity_id))


def get(db: Engine, reader: Reader, kind: str, entity_id: str) -> Snapshot:
    """The entity, if ``reader`` may see it.

    Raises:
        NotFound: there is none, or the reader may not see it (the same answer).
    """
    query = select(ENTITY).where(
        ENTITY.c.kind == kind, ENTITY.c.id == entity_id, entity_clause(reader, db.dialect.name)
    )
    with reading(db) as connection:
        row = connection.execute(query).first()
    if row is None:
        raise NotFound(kind, entity_id)
    return snapshot_from_row(row)


def entities(
    db: Engine,
    reader: Reader,
    kind: str,
    *,
    parent_id: str | None = None,
    state: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[Snapshot]:
    """The entities of ``kind`` the reader may see (under ``parent_id``, in ``state``), by id.

    A page: the first ``limit`` whose id sorts after ``after``.
    """
    query = select(ENTITY).where(ENTITY.c.kind == kind, entity_clause(reader, db.dialect.name))
    if after is not None:
        query = query.where(ENTITY.c.id > after)
    if parent_id is not None:
        query = query.where(ENTITY.c.parent_id == parent_id)
    if state is not None:
        query = query.where(ENTITY.c.state == state)
    with reading(db) as connection:
        return [snapshot_from_row(r) for r in connection.execute(query.order_by(ENTITY.c.id).limit(limit))]


def history(
    db: Engine, reader: Reader, kind: str, entity_id: str, *, after: int = 0, limit: int | None = None
) -> list[StoredEvent]:
    """The events of one entity the reader may see, oldest first (the first ``limit`` after seq ``after``).

    Raises:
        NotFound: there is no such entity, or the reader may not see it.
    """
    get(db, reader, kind, entity_id)
    query = _with_entity(select(EVENT)).where(
        EVENT.c.entity_kind == kind,
        EVENT.c.entity_id == entity_id,
        EVENT.c.seq > after,
        event_clause(reader, db.dialect.name),
    )
    with reading(db) as connection:
        return [event_from_row(r) for r in connection.execute(query.order_by(EVENT.c.seq).limit(limit))]


@dataclass(frozen=True, slots=True)
class FeedPage:
    """Events the reader may see, and how far the log was read for them."""

    events: list[StoredEvent]
    last_seq: int
    caught_up: bool


def feed(db: Engine, reader: Reader, *, after: int, limit: int) -> FeedPage:
    """The next sealed events after position ``after`` the reader may see.

    ``last_seq`` is where to ask from next: a sealed position. Unfiltered, it is
    the last event's position (or ``after``). Filtered, the log is read up to
    the last sealed position as it was when the request began (positions are
    given without gaps, to committed events only), at most :data:`SCAN` events:
    ``last_seq`` then covers the events skipped as well, so a follower moves on
    past others' events and never beyond one of its own not yet read.
    """
    with reading(db) as connection:
        head = int(connection.execute(select(func.max(EVENT.c.position))).scalar() or 0)
        if reader.reads_all:
            query = select(EVENT).where(EVENT.c.position > after).order_by(EVENT.c.position).limit(limit)
            events = [event_from_row(r) for r in connection.execute(query)]
            last = int(events[-1].position or after) if events else after
            return FeedPage(events, last, last >= head)
        upto = min(head, after + SCAN)
        query = (
            _with_entity(select(EVENT))
            .where(
                EVENT.c.position > after,
                EVENT.c.position <= upto,
                event_clause(reader, db.dialect.name),
            )
            .order_by(EVENT.c.position)
            .limit(limit)
        )
        events = [event_from_row(r) for r in connection.execute(query)]
    last = int(events[-1].position or after) if len(events) == limit else max(upto, after)
    return FeedPage(events, last, last >= head)
