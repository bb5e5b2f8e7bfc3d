"""The engine: one entry point that fires a trigger, in one transaction.

For every fire: lock the chain head (the global order), read the clock, load
and lock the entity, check the expected version, the trigger, the role and the
payload, run the guards through the definition's shared ``transitions``
Machine, call the handler, then write the entity, the event and any follow-up
transitions, and commit. Anything that fails rolls the whole transaction back:
no row, no event, and nothing cached in memory that could disagree.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select
from sqlalchemy import Engine as SAEngine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from handlers import MODULES
from handlers.base import (
    Context,
    DomainError,
    FollowUp,
    InvalidPayload,
    ListVersion,
    Outcome,
    Refusal,
    Snapshot,
)
from handlers.payloads import validate
from states import CREATE, DEFINITIONS, MachineDefinition
from workflow import _store
from workflow._machine import Bound, Token, load
from workflow.canonical import dumps
from workflow.clock import Clock, SystemClock
from workflow.db import make_engine, reading, unavailable
from workflow.errors import (
    ConflictError,
    DatabaseError,
    FiliereError,
    ForbiddenRole,
    GuardRefused,
    HandlerError,
    IdempotencyMismatch,
    InvalidInput,
    NotFound,
    TransitionNotAllowed,
    VersionConflict,
)
from workflow.models import ENTITY, EVENT, LIST_ENTRY, LIST_VERSION
from workflow.schema import ensure_schema

Event = _store.StoredEvent

#: Generated ids look like ``P-000042``; calls use their code, evaluators their actor name.
ID_PREFIXES = {
    "proposal": "P",
    "partnership": "PT",
    "decree": "D",
    "call": "C",
    "evaluator": "E",
    "measure": "M",
    "application": "A",
}


class _DryRun(Exception):  # control flow only: it never leaves the engine
    """Carries the computed event out of a transaction that must roll back."""

    def __init__(self, event: Event) -> None:
        super().__init__("dry run")
        self.event = event


class AlreadyExists(ConflictError):
    """An entity with that kind and id exists already."""

    def __init__(self, kind: str, entity_id: str) -> None:
        self.kind = kind
        self.entity_id = entity_id
        super().__init__(f"{kind} {entity_id} exists already")


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
        _check_role(bound.definition, trigger, role, bound.roles(trigger))
        clean = self._payload(bound, trigger, payload)
        request = _Request(
            bound, entity_id, trigger, actor, role, clean, idempotency_key, expected_version, effective_at
        )
        started = time.perf_counter()
        written: list[Event] = []
        try:
            with self.db.begin() as connection:
                event = self._fire_locked(connection, request, written)
                if dry_run:
                    raise _DryRun(event)
        except _DryRun as rolled_back:
            return replace(rolled_back.event, dry_run=True)
        except IntegrityError as exc:
            event = self._after_integrity_error(exc, request)
        except OperationalError as exc:
            raise unavailable(exc) from exc
        except DBAPIError as exc:  # any other refusal by the database (a trigger, a check)
            raise DatabaseError(f"{kind} {entity_id} {trigger}: {exc.orig}") from exc
        if not event.replayed:
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
            snapshot = _store.TxReader(connection).get(kind, entity_id)
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
            events = [_store.event_from_row(r) for r in rows]
        if not events:
            raise NotFound(kind, entity_id)
        return events

    def events(self, after: int = 0, limit: int | None = None) -> Iterator[Event]:
        """Events in global order after sequence number ``after``."""
        query = select(EVENT).where(EVENT.c.seq > after).order_by(EVENT.c.seq)
        if limit is not None:
            query = query.limit(limit)
        with reading(self.db) as connection:
            for row in connection.execution_options(yield_per=1000).execute(query):
                yield _store.event_from_row(row)

    def list_as_of(self, call_id: str, moment: datetime | None = None) -> ListVersion | None:
        """The call's list (*elenco*) in force at ``moment`` (now if ``None``)."""
        with reading(self.db) as connection:
            return _store.list_version_as_of(connection, call_id, moment or self.clock.now())

    def entities(self, kind: str, *, states: tuple[str, ...] | None = None) -> list[Snapshot]:
        """Every entity of ``kind`` (optionally only in ``states``), by id."""
        query = select(ENTITY).where(ENTITY.c.kind == kind)
        if states is not None:
            query = query.where(ENTITY.c.state.in_(states))
        with reading(self.db) as connection:
            return [_store.snapshot_from_row(r) for r in connection.execute(query.order_by(ENTITY.c.id))]

    def find(self, kind: str, *, parent_id: str, state: str | None = None) -> list[Snapshot]:
        """Entities of ``kind`` under ``parent_id`` (optionally in ``state``)."""
        with reading(self.db) as connection:
            return list(_store.TxReader(connection).find(kind, parent_id=parent_id, state=state))

    def as_of(self, moment: datetime) -> Any:
        """Every entity and list as they were at ``moment``, rebuilt from the log (a ``ReplayResult``)."""
        from workflow.replay import as_of

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

    def _fire_locked(self, connection: Connection, request: _Request, written: list[Event]) -> Event:
        head = _store.lock_head(connection)
        if request.key is not None:
            found = _store.find_by_key(connection, request.key)
            if found is not None:
                return _replay_of(found, request)
        return _Step(connection, self, head, self.clock.now(), written).fire(request)

    def _after_integrity_error(self, exc: IntegrityError, request: _Request) -> Event:
        """A concurrent writer won a unique key: answer as a retry or a conflict."""
        if request.key is not None:
            with reading(self.db) as connection:
                found = _store.find_by_key(connection, request.key)
            if found is not None:
                return _replay_of(found, request)
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


@dataclass(frozen=True, slots=True)
class _Request:
    """One trigger to fire, validated: what the caller asked for, nothing decided yet."""

    bound: Bound
    entity_id: str | None
    trigger: str
    actor: str
    role: str
    payload: dict[str, Any]
    key: str | None = None
    expected_version: int | None = None
    effective_at: datetime | None = None
    cause: int | None = None

    @property
    def kind(self) -> str:
        """The entity's kind."""
        return self.bound.definition.name

    @property
    def digest(self) -> str:
        """What an idempotent retry must match: everything the caller said, hashed."""
        moment = self.effective_at.isoformat() if self.effective_at else None
        said = [self.kind, self.entity_id, self.trigger, self.actor, self.role, self.payload, moment]
        return hashlib.sha256(dumps(said)).hexdigest()


def _replay_of(found: tuple[Event, str | None], request: _Request) -> Event:
    event, stored_digest = found
    if stored_digest != request.digest:
        raise IdempotencyMismatch(str(request.key), event.seq)
    return event


class _Step:
    """One transaction's worth of transitions: the fired one and its follow-ups."""

    def __init__(
        self,
        connection: Connection,
        engine: Engine,
        head: tuple[int, str],
        now: datetime,
        written: list[Event] | None = None,
    ) -> None:
        self.connection = connection
        self.engine = engine
        self.head = head
        self.now = now
        self.written = written if written is not None else []
        self.reader = _store.TxReader(connection)

    def fire(self, request: _Request) -> Event:
        definition = request.bound.definition
        current: Snapshot | None = None
        if request.trigger == CREATE:
            entity_id = self._new_id(request.bound, request.entity_id, request.payload)
            ctx = self._context(request, entity_id, None)
            for name in definition.create_guards:
                _raise_refusal(ctx, request.bound.guards[name](ctx))
            dest = definition.initial_state
        else:
            entity_id, current = self._locked(request)
            ctx = self._context(request, entity_id, current)
            dest = self._run_machine(request.bound, ctx, current.state)
        outcome = self._handle(request.bound, request.trigger, ctx)
        event = self._write(request, entity_id, current, dest, outcome)
        for follow_up in outcome.follow_ups:
            self._follow(follow_up, event)
        return event

    def _locked(self, request: _Request) -> tuple[str, Snapshot]:
        """Load and lock the entity; check version, state and role."""
        kind, entity_id = request.kind, request.entity_id
        if entity_id is None:
            raise InvalidInput("entity_id", f"{request.trigger} needs the id of the {kind}")
        current = self.reader.lock(kind, entity_id)
        if current is None:
            raise NotFound(kind, entity_id)
        if request.expected_version is not None and request.expected_version != current.version:
            raise VersionConflict(kind, entity_id, request.expected_version, current.version)
        arrows = request.bound.arrows(request.trigger, current.state)
        if not arrows:
            allowed = request.bound.triggers_from(current.state)
            raise TransitionNotAllowed(kind, entity_id, current.state, request.trigger, allowed)
        roles = tuple(dict.fromkeys(r for a in arrows for r in a.roles))
        _check_role(request.bound.definition, request.trigger, request.role, roles)
        return entity_id, current

    def _new_id(self, bound: Bound, entity_id: str | None, payload: Mapping[str, Any]) -> str:
        kind = bound.definition.name
        chosen = entity_id or _natural_id(kind, payload)
        if chosen is None:
            if kind == "evaluator":
                raise InvalidInput("entity_id", "an evaluator is registered under their actor name")
            chosen = (
                f"{ID_PREFIXES.get(kind, kind.upper())}-{_store.allocate(self.connection, f'id:{kind}'):06d}"
            )
        if not chosen or len(chosen) > 300 or chosen.strip() != chosen:
            raise InvalidInput("entity_id", "must be 1 to 300 characters without surrounding spaces")
        if self.reader.get(kind, chosen) is not None:
            raise AlreadyExists(kind, chosen)
        return chosen

    def _context(self, request: _Request, entity_id: str, current: Snapshot | None) -> Context:
        return Context(
            kind=request.kind,
            entity_id=entity_id,
            entity=current,
            trigger=request.trigger,
            payload=request.payload,
            actor=request.actor,
            role=request.role,
            now=self.now,
            reader=self.reader,
            allocate=lambda name: _store.allocate(self.connection, name),
        )

    def _run_machine(self, bound: Bound, ctx: Context, state: str) -> str:
        token = Token(state)
        refusals: list[Any] = []
        if not bound.machine.events[ctx.trigger].trigger(token, ctx=ctx, refusals=refusals):
            _raise_refusal(ctx, refusals[0])
        return token.state

    def _handle(self, bound: Bound, trigger: str, ctx: Context) -> Outcome:
        handler = getattr(bound.module, trigger)
        try:
            outcome = handler(ctx)
        except InvalidPayload as exc:
            raise InvalidInput(exc.field, exc.reason) from exc
        except (FiliereError, DomainError, DBAPIError):
            raise
        except Exception as exc:  # a bug in a handler: roll back, say where
            raise HandlerError(ctx.kind, trigger, f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(outcome, Outcome):
            raise HandlerError(ctx.kind, trigger, f"returned {type(outcome).__name__}, not Outcome")
        return outcome

    def _write(
        self, request: _Request, entity_id: str, current: Snapshot | None, dest: str, outcome: Outcome
    ) -> Event:
        kind, trigger = request.kind, request.trigger
        data = {**(current.data if current else {}), **outcome.changes}
        encoded = dumps(data).decode()
        if current is None:
            version = 1
            _store.insert_entity(
                self.connection,
                {
                    "kind": kind,
                    "id": entity_id,
                    "state": dest,
                    "version": 1,
                    "parent_id": outcome.parent_id,
                    "data": encoded,
                    "created_at": self.now,
                    "updated_at": self.now,
                },
            )
        else:
            version = current.version + 1
            changed = _store.update_entity(self.connection, current, dest, encoded, self.now)
            if changed != 1:  # pragma: no cover - the row lock makes this a last line of defence
                raise VersionConflict(kind, entity_id, current.version, current.version + 1)
        if outcome.list_version is not None:
            self._store_list_version(entity_id, *outcome.list_version)
        recorded: dict[str, Any] = {"input": request.payload}
        if outcome.changes:
            recorded["changes"] = dict(outcome.changes)
        if outcome.record:
            recorded["effects"] = dict(outcome.record)
        try:
            payload_json = dumps(recorded)
        except TypeError as exc:  # a handler recorded a float or an object JSON cannot carry
            raise HandlerError(kind, trigger, str(exc)) from exc
        fields = {
            "entity_kind": kind,
            "entity_id": entity_id,
            "entity_version": version,
            "trigger": trigger,
            "from_state": current.state if current else None,
            "to_state": dest,
            "actor": request.actor,
            "role": request.role,
            "occurred_at": self.now,
            "effective_at": request.effective_at or self.now,
            "payload": orjson.loads(payload_json),
            "definition_version": request.bound.version,
            "cause_seq": request.cause,
            "idempotency_key": request.key,
        }
        digest = request.digest if request.key is not None else None
        try:
            event = _store.append(self.connection, self.head, fields, digest, payload_json)
        except TypeError as exc:
            raise HandlerError(kind, trigger, str(exc)) from exc
        self.head = (event.seq, event.hash)
        self.written.append(event)
        return event

    def _store_list_version(
        self, decree_id: str, call_id: str, number: int, entries: tuple[str, ...]
    ) -> None:
        self.connection.execute(
            insert(LIST_VERSION).values(
                call_id=call_id, number=number, decree_id=decree_id, approved_at=self.now
            )
        )
        if entries:
            self.connection.execute(
                insert(LIST_ENTRY),
                [{"call_id": call_id, "number": number, "proposal_id": p} for p in entries],
            )

    def _follow(self, follow_up: FollowUp, cause: Event) -> None:
        bound = self.engine._bound(follow_up.kind)
        payload = self.engine._payload(bound, follow_up.trigger, follow_up.payload)
        actor = follow_up.actor or "system"
        request = _Request(bound, follow_up.entity_id, follow_up.trigger, actor, follow_up.role, payload)
        self.fire(replace(request, effective_at=follow_up.effective_at, cause=cause.seq))


def _raise_refusal(ctx: Context, refusal: Refusal | None) -> None:
    if refusal is not None:
        raise GuardRefused(
            ctx.kind, ctx.entity_id, ctx.trigger, refusal.guard, refusal.reason, data=refusal.data
        )


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


def _check_role(definition: MachineDefinition, trigger: str, role: str, allowed: tuple[str, ...]) -> None:
    if role not in allowed:
        raise ForbiddenRole(definition.name, trigger, role, allowed)


def _natural_id(kind: str, payload: Mapping[str, Any]) -> str | None:
    """Calls and measures are known by their code."""
    return str(payload["code"]) if kind in ("call", "measure") else None
