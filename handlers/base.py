"""What every handler receives and returns.

Handlers are plain functions: a guard takes a :class:`Context` and returns a
:class:`Refusal` or ``None``; a handler named after its trigger takes a
:class:`Context` and returns an :class:`Outcome`. They never touch the database,
the clock or the logger: the engine passes in the entity, the payload, the
time, a read-only :class:`Reader` and a counter allocator, and persists what
comes back. That keeps every decision replayable from the event log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class DomainError(Exception):
    """Root of the errors raised by handlers; ``workflow`` maps them to its own."""


class InvalidPayload(DomainError, ValueError):
    """A payload field is missing or malformed.

    Attributes:
        field: dotted path of the offending field.
        reason: what is wrong with it, for a person to act on.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A read-only view of one entity as stored before the current transition."""

    kind: str
    id: str
    state: str
    version: int
    data: Mapping[str, Any]
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class ListVersion:
    """One version of a call's list of recognised proposals (*elenco*)."""

    call_id: str
    number: int
    decree_id: str
    approved_at: datetime
    proposal_ids: tuple[str, ...]


class Reader(Protocol):
    """Read-only queries a handler may make inside the current transaction."""

    def get(self, kind: str, entity_id: str) -> Snapshot | None:
        """The entity as currently stored, or ``None``."""

    def find(self, kind: str, *, parent_id: str, state: str | None = None) -> Sequence[Snapshot]:
        """Entities of ``kind`` under ``parent_id`` (optionally in ``state``), by id."""

    def list_version(self, call_id: str) -> ListVersion | None:
        """The latest approved list version of a call, or ``None``."""


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a guard or handler may use to decide.

    Attributes:
        kind: the entity's kind (its machine's name).
        entity_id: the entity's id (already chosen for ``create``).
        entity: the stored entity, or ``None`` for ``create``.
        trigger: the trigger being fired.
        payload: the validated, JSON-ready payload.
        actor: who fires it.
        role: in which role.
        now: the engine clock's reading, aware UTC.
        reader: read-only queries.
        allocate: increments and returns a named counter (protocol numbers);
            rolled back with the transaction, so a refusal consumes nothing.
    """

    kind: str
    entity_id: str
    entity: Snapshot | None
    trigger: str
    payload: Mapping[str, Any]
    actor: str
    role: str
    now: datetime
    reader: Reader
    allocate: Callable[[str], int]

    @property
    def data(self) -> Mapping[str, Any]:
        """The entity's stored data (empty for ``create``)."""
        return self.entity.data if self.entity is not None else {}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a guard said no: its name, a sentence, and the data behind it."""

    guard: str
    reason: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A transition the engine must fire in the same transaction.

    It runs as ``actor`` in ``role`` (by default the ``system``), and its event
    records the causing event's sequence number.
    """

    kind: str
    entity_id: str
    trigger: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    effective_at: datetime | None = None
    actor: str | None = None
    role: str = "system"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handler decided.

    Attributes:
        changes: entity data fields to set (merged over the stored data).
        record: facts computed by the handler, recorded in the event payload
            under ``effects`` so that replay needs nothing but the log.
        follow_ups: transitions to fire next, in the same transaction.
        list_version: a new list version to store (decree approval only).
        parent_id: the parent entity (``create`` only), e.g. a proposal's call.
    """

    changes: Mapping[str, Any] = field(default_factory=dict)
    record: Mapping[str, Any] = field(default_factory=dict)
    follow_ups: tuple[FollowUp, ...] = ()
    list_version: tuple[str, int, tuple[str, ...]] | None = None
    parent_id: str | None = None


Guard = Callable[[Context], Refusal | None]
Handler = Callable[[Context], Outcome]
