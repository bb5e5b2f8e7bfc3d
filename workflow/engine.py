"""The engine: one entry point that fires a trigger, in one transaction.

For every fire: read the clock, load and lock the entity, check the expected
version, the trigger, the role and the payload, run the guards through the
definition's shared ``transitions`` Machine, call the handler, then write the
entity, the event and any follow-up transitions, and commit. Anything that
fails rolls the whole transaction back: no row, no event, and nothing cached
in memory that could disagree. Events are chained per entity; the sequencer
(``workflow/sequencer.py``) gives them their global position afterwards (on
SQLite, before the commit).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy import Engine as SAEngine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from handlers import MODULES
from handlers.base import (
    InvalidPayload,
    ListVersion,
    Snapshot,
)
from handlers.payloads import validate
from states import CREATE, DEFINITIONS, MachineDefinition
from workflow.canonical import dumps
from workflow.clock import Clock, SystemClock
from workflow.errors import (
    AlreadyExists,
    DatabaseError,
    InvalidInput,
    NotFound,
)
from workflow.machine import Bound, load
from workflow.sequencer import Sequencer
from workflow.step import Request, Step, check_role, replay_of
from workflow.store import eventlog, tree
from workflow.store.db import make_engine, reading, unavailable
from workflow.store.schema import ensure_schema
from workflow.store.tables import ENTITY, EVENT

Event = eventlog.StoredEvent


class _DryRun(Exception):  # control flow only: it never leaves the engine
    """Carries the computed event out of a transaction that must roll back."""

    def __init__(self, event: Event) -> None:
        super().__init__("dry run")
        self.event = event


class Engine:
    """Filiere's engine on one database.

    Args:
        url: a SQLAlchemy URL (``sqlite:///file.db``, ``postgresql://...``);
            default ``FILIERE_DATABASE_URL`` or ``./filiere.db``.
        clock: where time comes from; :class:`~workflow.clock.SystemClock` by default.
        db: an existing SQLAlchemy engine, instead of ``url``.
    """

    def __init__(
        self, url: str | None = None, *, clock: Clock | None = None, db: SAEngine | None = None
    ) -> None:
        self.db = db if db is not None else make_engine(url)
        self.clock: Clock = clock or SystemClock()
        self.machines: dict[str, Bound] = load(DEFINITIONS, MODULES)
        self._listeners: list[Callable[[Event], None]] = []
        try:
            ensure_schema(self.db, [b.definition for b in self.machines.values()], self.clock.now())
        except OperationalError as exc:
            raise unavailable(exc) from exc
        self.sequencer = Sequencer(self.db)

    # --- writing --------------------------------------------------------------

    def fire(
        self,
        kind: str,
        entity_id: str | None,
        trigger: str,
        *,
        actor: str,
        role: str,
        payload: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        effective_at: datetime | None = None,
        dry_run: bool = False,
    ) -> Event:
        """Fire ``trigger`` on an entity and return the event it committed.

        ``trigger="create"`` brings a new entity into its initial state;
        ``entity_id`` may then be ``None`` to have one generated. With
        ``dry_run`` everything runs (roles, guards, handlers, follow-ups) and is
        rolled back: the event that would be committed is returned, nothing is
        written, logged or announced.

        Raises:
            InvalidInput: a malformed argument or payload field.
            NotFound: no such entity.
            TransitionNotAllowed: the trigger does not leave the current state.
            ForbiddenRole: the role may not fire the trigger.
            GuardRefused: a guard said no, and why.
            VersionConflict: ``expected_version`` is stale.
            IdempotencyMismatch: the key was used for a different request.
            DatabaseUnavailable: the database could not be used.
        """
        bound = self._bound(kind)
        _check_arguments(actor, idempotency_key, effective_at, entity_id)
        check_role(bound.definition, trigger, role, bound.roles(trigger))
        clean = self._payload(bound, trigger, payload)
        request = Request(
            bound, entity_id, trigger, actor, role, clean, idempotency_key, expected_version, effective_at
        )
        started = time.perf_counter()
        written: list[Event] = []
        try:
            with self.db.begin() as connection:
                event = self._fire_locked(connection, request, written)
                if dry_run:
                    raise _DryRun(event)
                if self.sequencer.inline and not event.replayed:
                    event = _sealed_inline(connection, event, written)
        except _DryRun as rolled_back:
            return replace(rolled_back.event, dry_run=True)
        except IntegrityError as exc:
            event = self._after_integrity_error(exc, request)
        except OperationalError as exc:
            raise unavailable(exc) from exc
        except DBAPIError as exc:  # any other refusal by the database (a trigger, a check)
            raise DatabaseError(f"{kind} {entity_id} {trigger}: {exc.orig}") from exc
        if not event.replayed:
            self.sequencer.poke()
            seconds = time.perf_counter() - started
            # Follow-ups were committed in the same transaction: they are heard, in seq order, too.
            for committed in written or [event]:
                self._logged(committed, seconds)
                for listener in list(self._listeners):
                    listener(committed)
        return event

    def create(
        self,
        kind: str,
        *,
        actor: str,
        role: str,
        payload: Mapping[str, Any],
        entity_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Event:
        """Shorthand for ``fire(kind, entity_id, "create", ...)``."""
        return self.fire(
            kind, entity_id, CREATE, actor=actor, role=role, payload=payload, idempotency_key=idempotency_key
        )

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener`` with each event after it commits; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # --- reading --------------------------------------------------------------

    def get(self, kind: str, entity_id: str) -> Snapshot:
        """The entity as stored now.

        Raises:
            NotFound: there is none.
        """
        self._bound(kind)
        with reading(self.db) as connection:
            snapshot = eventlog.TxReader(connection).get(kind, entity_id)
        if snapshot is None:
            raise NotFound(kind, entity_id)
        return snapshot

    def history(self, kind: str, entity_id: str) -> list[Event]:
        """Every event of one entity, oldest first."""
        with reading(self.db) as connection:
            rows = connection.execute(
                select(EVENT)
                .where(EVENT.c.entity_kind == kind, EVENT.c.entity_id == entity_id)
                .order_by(EVENT.c.seq)
            )
            events = [eventlog.event_from_row(r) for r in rows]
        if not events:
            raise NotFound(kind, entity_id)
        return events

    def events(self, after: int = 0, limit: int | None = None) -> Iterator[Event]:
        """Sealed events in their global order, after position ``after``.

        Only sealed events are served, in sealed order, so a consumer that
        resumes after the last position it saw can never skip an event that
        committed late. Pending events are sealed first.
        """
        if not self.sequencer.inline:
            self.seal()
        query = select(EVENT).where(EVENT.c.position > after).order_by(EVENT.c.position)
        if limit is not None:
            query = query.limit(limit)
        with reading(self.db) as connection:
            for row in connection.execution_options(yield_per=1000).execute(query):
                yield eventlog.event_from_row(row)

    def seal(self) -> int:
        """Seal every event committed so far (waiting for a running sealer); how many this call sealed."""
        try:
            return self.sequencer.seal() or 0
        except OperationalError as exc:
            raise unavailable(exc) from exc

    def list_as_of(self, call_id: str, moment: datetime | None = None) -> ListVersion | None:
        """The call's list (*elenco*) in force at ``moment`` (now if ``None``)."""
        with reading(self.db) as connection:
            return eventlog.list_version_as_of(connection, call_id, moment or self.clock.now())

    def entities(self, kind: str, *, states: tuple[str, ...] | None = None) -> list[Snapshot]:
        """Every entity of ``kind`` (optionally only in ``states``), by id."""
        query = select(ENTITY).where(ENTITY.c.kind == kind)
        if states is not None:
            query = query.where(ENTITY.c.state.in_(states))
        with reading(self.db) as connection:
            return [eventlog.snapshot_from_row(r) for r in connection.execute(query.order_by(ENTITY.c.id))]

    def find(self, kind: str, *, parent_id: str, state: str | None = None) -> list[Snapshot]:
        """Entities of ``kind`` under ``parent_id`` (optionally in ``state``)."""
        with reading(self.db) as connection:
            return list(eventlog.TxReader(connection).find(kind, parent_id=parent_id, state=state))

    def as_of(self, moment: datetime) -> Any:
        """Every entity and list as they were at ``moment``, rebuilt from the log (a ``ReplayResult``)."""
        from workflow.audit.compare import as_of

        return as_of(self.db, moment)

    def definition(self, kind: str) -> MachineDefinition:
        """The machine definition of ``kind``."""
        return self._bound(kind).definition

    # --- internals ------------------------------------------------------------

    def _bound(self, kind: str) -> Bound:
        try:
            return self.machines[kind]
        except KeyError:
            raise InvalidInput(
                "kind", f"unknown kind {kind!r} (kinds: {', '.join(sorted(self.machines))})"
            ) from None

    def _payload(self, bound: Bound, trigger: str, payload: Mapping[str, Any] | None) -> dict[str, Any]:
        model = bound.module.PAYLOADS.get(trigger)
        if model is None:
            triggers = ", ".join(bound.definition.triggers)
            raise InvalidInput(
                "trigger", f"{bound.definition.name} has no trigger {trigger!r} (triggers: {triggers})"
            )
        try:
            clean = validate(model, payload)
        except InvalidPayload as exc:
            raise InvalidInput(exc.field, exc.reason) from exc
        try:
            dumps(clean)
        except TypeError as exc:  # a float (or worse) in a free-form part of the payload
            raise InvalidInput("payload", str(exc)) from exc
        return clean

    def _fire_locked(self, connection: Connection, request: Request, written: list[Event]) -> Event:
        if request.key is not None:
            found = eventlog.find_by_key(connection, request.key)
            if found is not None:
                return replay_of(found, request)
        return Step(connection, self, self.clock.now(), written).fire(request)

    def _after_integrity_error(self, exc: IntegrityError, request: Request) -> Event:
        """A concurrent writer won a unique key: answer as a retry or a conflict."""
        if request.key is not None:
            with reading(self.db) as connection:
                found = eventlog.find_by_key(connection, request.key)
            if found is not None:
                return replay_of(found, request)
        if request.trigger == CREATE and request.entity_id is not None:
            raise AlreadyExists(request.kind, request.entity_id) from exc
        raise DatabaseError(f"{request.kind} {request.entity_id} {request.trigger}: {exc.orig}") from exc

    def _logged(self, event: Event, seconds: float) -> None:
        from workflow.logconfig import transition_lines, transition_logger

        if not transition_lines():
            return
        transition_logger().info(
            "transition",
            kind=event.entity_kind,
            id=event.entity_id,
            trigger=event.trigger,
            src=event.from_state,
            dst=event.to_state,
            actor=event.actor,
            role=event.role,
            seq=event.seq,
            ms=round(seconds * 1000, 3),
        )


def _sealed_inline(connection: Connection, event: Event, written: list[Event]) -> Event:
    """SQLite: seal this transaction's events before it commits (the writer is alone anyway)."""
    positions = tree.seal(connection) or {}
    written[:] = [replace(e, position=positions.get(e.seq)) for e in written]
    return replace(event, position=positions.get(event.seq))


def _check_arguments(
    actor: str, key: str | None, effective_at: datetime | None, entity_id: str | None = None
) -> None:
    if not isinstance(actor, str) or not actor.strip() or len(actor) > 200 or not actor.isprintable():
        raise InvalidInput("actor", "must be 1 to 200 printable characters")
    if key is not None and (not key or len(key) > 200 or not key.isprintable()):
        raise InvalidInput("idempotency_key", "must be 1 to 200 printable characters")
    # Control characters are refused here, not by the database: PostgreSQL rejects a NUL in
    # text with an error that would otherwise surface as "database unavailable".
    if entity_id is not None and (not isinstance(entity_id, str) or not entity_id.isprintable()):
        raise InvalidInput("entity_id", "must be printable characters")
    if effective_at is not None and effective_at.utcoffset() is None:
        raise InvalidInput("effective_at", "must be an aware datetime (with a time zone)")
