"""The work of one fire inside its transaction: the fired transition and its follow-ups.

``Engine.fire`` validates the call and opens the transaction; a ``Step`` then
loads and locks the entity (the only lock a fire takes besides counters), asks the definition's shared
``transitions`` Machine, runs the guards and the handler, and writes the entity
and the event. Follow-ups (a funding that moves the cited proposal) run in the
same ``Step``, so they commit or roll back with the transition that caused them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, insert
from sqlalchemy.exc import DBAPIError

from handlers.base import (
    Context,
    DomainError,
    FollowUp,
    InvalidPayload,
    Outcome,
    Refusal,
    Snapshot,
)
from states import CREATE, MachineDefinition
from workflow.canonical import dumps
from workflow.errors import (
    AlreadyExists,
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
from workflow.machine import Bound, Token
from workflow.store import eventlog
from workflow.store.tables import LIST_ENTRY, LIST_VERSION

if TYPE_CHECKING:
    from workflow.engine import Engine

Event = eventlog.StoredEvent

#: Kinds whose entities the engine numbers (``P-000042``): a caller may not choose their id,
#: or it could take the next number and block every later create. Calls and measures are
#: known by their code, evaluators by their actor name.
ID_PREFIXES = {
    "proposal": "P",
    "partnership": "PT",
    "decree": "D",
    "application": "A",
}


@dataclass(frozen=True, slots=True)
class Request:
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


def replay_of(found: tuple[Event, str | None], request: Request) -> Event:
    """The first answer to an idempotent retry, if the retry asks for the same thing."""
    event, stored_digest = found
    if stored_digest != request.digest:
        raise IdempotencyMismatch(str(request.key), event.seq)
    return event


class Step:
    """One transaction's worth of transitions: the fired one and its follow-ups."""

    def __init__(
        self,
        connection: Connection,
        engine: Engine,
        now: datetime,
        written: list[Event] | None = None,
    ) -> None:
        self.connection = connection
        self.engine = engine
        self.now = now
        self.written = written if written is not None else []
        self.reader = eventlog.TxReader(connection)

    def fire(self, request: Request) -> Event:
        """Fire ``request`` and its follow-ups inside this transaction; return its event."""
        definition = request.bound.definition
        current: Snapshot | None = None
        if request.trigger == CREATE:
            entity_id = self._new_id(request.bound, request.entity_id, request.payload)
            ctx = self._context(request, entity_id, None)
            for name in definition.create_guards:
                raise_refusal(ctx, request.bound.guards[name](ctx))
            dest = definition.initial_state
        else:
            locked = self._locked(request)
            if isinstance(locked, Event):
                return locked
            entity_id, current = locked
            current = self._caught_up(request, entity_id, current)
            ctx = self._context(request, entity_id, current)
            dest = self._run_machine(request.bound, ctx, current.state)
        outcome = self._handle(request.bound, request.trigger, ctx)
        event = self._write(request, entity_id, current, dest, outcome)
        for follow_up in outcome.follow_ups:
            self._follow(follow_up, event)
        return event

    def _locked(self, request: Request) -> tuple[str, Snapshot] | Event:
        """Load and lock the entity; check version, state and role (or answer an idempotent retry)."""
        kind, entity_id = request.kind, request.entity_id
        if entity_id is None:
            raise InvalidInput("entity_id", f"{request.trigger} needs the id of the {kind}")
        current = self.reader.lock(kind, entity_id)
        if current is None:
            raise NotFound(kind, entity_id)
        if request.key is not None and request.cause is None:
            # Looked up again under the entity's lock: a writer with the same key may have
            # committed while we waited for it (no global lock orders us any more).
            found = eventlog.find_by_key(self.connection, request.key)
            if found is not None:
                return replay_of(found, request)
        if request.expected_version is not None and request.expected_version != current.version:
            raise VersionConflict(kind, entity_id, request.expected_version, current.version)
        arrows = request.bound.arrows(request.trigger, current.state)
        if not arrows:
            allowed = request.bound.triggers_from(current.state)
            raise TransitionNotAllowed(kind, entity_id, current.state, request.trigger, allowed)
        roles = tuple(dict.fromkeys(r for a in arrows for r in a.roles))
        check_role(request.bound.definition, request.trigger, request.role, roles)
        return entity_id, current

    def _caught_up(self, request: Request, entity_id: str, current: Snapshot) -> Snapshot:
        """First record, as the system, what the clock already made due (a call's close at its deadline).

        A handler module says what with ``overdue(ctx)``; a trigger is then
        judged the same whether or not the scheduler ran, and a refusal rolls
        the recorded catch-up back with it.
        """
        overdue = getattr(request.bound.module, "overdue", None)
        due = overdue(self._context(request, entity_id, current)) if overdue is not None else ()
        for follow_up in due:
            self._follow(follow_up, None)
        return (self.reader.lock(request.kind, entity_id) or current) if due else current

    def _new_id(self, bound: Bound, entity_id: str | None, payload: Mapping[str, Any]) -> str:
        kind = bound.definition.name
        if kind in ID_PREFIXES:
            if entity_id is not None:
                raise InvalidInput(
                    "entity_id", f"a {kind}'s id is generated by the engine ({ID_PREFIXES[kind]}-000001…)"
                )
            return self._generated_id(kind)
        natural = natural_id(kind, payload)
        if natural is not None and entity_id not in (None, natural):
            raise InvalidInput("entity_id", f"a {kind} is known by its code {natural!r}")
        chosen = natural or entity_id
        if chosen is None:
            raise InvalidInput("entity_id", f"a {kind} is named by its caller (an evaluator: its actor name)")
        if not chosen or len(chosen) > 300 or chosen.strip() != chosen:
            raise InvalidInput("entity_id", "must be 1 to 300 characters without surrounding spaces")
        if self.reader.get(kind, chosen) is not None:
            raise AlreadyExists(kind, chosen)
        return chosen

    def _generated_id(self, kind: str) -> str:
        """The next free number: one taken before callers were refused their own ids is skipped."""
        while True:
            number = eventlog.allocate(self.connection, f"id:{kind}")
            chosen = f"{ID_PREFIXES[kind]}-{number:06d}"
            if self.reader.get(kind, chosen) is None:
                return chosen

    def _context(self, request: Request, entity_id: str, current: Snapshot | None) -> Context:
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
            allocate=lambda name: eventlog.allocate(self.connection, name),
        )

    def _run_machine(self, bound: Bound, ctx: Context, state: str) -> str:
        token = Token(state)
        refusals: list[Any] = []
        try:
            allowed = bound.machine.events[ctx.trigger].trigger(token, ctx=ctx, refusals=refusals)
        except InvalidPayload as exc:  # a field only the entity can judge (a local time in its zone)
            raise InvalidInput(exc.field, exc.reason) from exc
        if not allowed:
            raise_refusal(ctx, refusals[0])
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
        self, request: Request, entity_id: str, current: Snapshot | None, dest: str, outcome: Outcome
    ) -> Event:
        kind, trigger = request.kind, request.trigger
        data = {**(current.data if current else {}), **outcome.changes}
        encoded = dumps(data).decode()
        if current is None:
            version = 1
            eventlog.insert_entity(
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
            changed = eventlog.update_entity(self.connection, current, dest, encoded, self.now)
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
            event = eventlog.append(self.connection, fields, digest, payload_json)
        except TypeError as exc:
            raise HandlerError(kind, trigger, str(exc)) from exc
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

    def _follow(self, follow_up: FollowUp, cause: Event | None) -> None:
        bound = self.engine._bound(follow_up.kind)
        payload = self.engine._payload(bound, follow_up.trigger, follow_up.payload)
        actor = follow_up.actor or "system"
        request = Request(bound, follow_up.entity_id, follow_up.trigger, actor, follow_up.role, payload)
        self.fire(replace(request, effective_at=follow_up.effective_at, cause=cause.seq if cause else None))


def raise_refusal(ctx: Context, refusal: Refusal | None) -> None:
    """A guard's refusal becomes the typed error the caller sees."""
    if refusal is not None:
        raise GuardRefused(
            ctx.kind, ctx.entity_id, ctx.trigger, refusal.guard, refusal.reason, data=refusal.data
        )


def check_role(definition: MachineDefinition, trigger: str, role: str, allowed: tuple[str, ...]) -> None:
    """Refuse a role the definition does not allow for ``trigger``."""
    if role not in allowed:
        raise ForbiddenRole(definition.name, trigger, role, allowed)


def natural_id(kind: str, payload: Mapping[str, Any]) -> str | None:
    """Calls and measures are known by their code, a project by its funded application."""
    if kind == "project":
        return str(payload["application_id"])
    return str(payload["code"]) if kind in ("call", "measure") else None
