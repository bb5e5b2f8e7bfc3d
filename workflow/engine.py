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
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import Connection, select
from sqlalchemy import Engine as SAEngine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from handlers import MODULES
from handlers.base import (
    ListVersion,
    Snapshot,
)
from states import CREATE, DEFINITIONS, MachineDefinition
from workflow.clock import Clock, SystemClock
from workflow.errors import (
    AlreadyExists,
    DatabaseError,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
)
from workflow.logconfig import log_transition
from workflow.machine import Bound, load
from workflow.prepare import clean_payload, prepare_request
from workflow.sequencer import Sequencer, sealed_inline
from workflow.step import Request, Step, replay_of
from workflow.store import eventlog
from workflow.store.db import make_engine, reading, unavailable
from workflow.store.schema import ensure_schema
from workflow.store.tables import ENTITY, EVENT

if TYPE_CHECKING:
    from workflow.results import AsOf, Budget, ReplayReport

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

    Use it as a context manager, or call :meth:`close`, to give its connections back; a
    closed engine refuses every further call with ``DatabaseUnavailable``.
    """

    def __init__(
        self, url: str | None = None, *, clock: Clock | None = None, db: SAEngine | None = None
    ) -> None:
        self._db: SAEngine | None = db if db is not None else make_engine(url)
        self._owns_db = db is None
        self.clock: Clock = clock or SystemClock()
        self.machines: dict[str, Bound] = load(DEFINITIONS, MODULES)
        self._listeners: list[Callable[[Event], None]] = []
        try:
            ensure_schema(self.db, [b.definition for b in self.machines.values()], self.clock.now())
        except OperationalError as exc:
            raise unavailable(exc) from exc
        self.sequencer = Sequencer(self.db)

    # --- life cycle -----------------------------------------------------------

    @property
    def db(self) -> SAEngine:
        """The SQLAlchemy engine underneath.

        Raises:
            DatabaseUnavailable: the engine was closed.
        """
        if self._db is None:
            raise DatabaseUnavailable("this Engine was closed; open a new one")
        return self._db

    @db.setter
    def db(self, value: SAEngine) -> None:
        self._db = value

    def close(self) -> None:
        """Give every pooled connection back (idempotent); the engine refuses any use afterwards.

        A SQLAlchemy engine passed in as ``db`` belongs to the caller: it is left open.
        The background sealer finishes its pass first and starts no other (events it
        has not reached are sealed by the next engine, or by ``seal`` elsewhere).
        """
        if self._db is not None:
            self.sequencer.stop()
        if self._db is not None and self._owns_db:
            self._db.dispose()
        self._db = None
        self._listeners.clear()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._db is None

    def __enter__(self) -> Self:
        self.db  # noqa: B018 - refuses a closed engine at the door
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

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
        request = self._request(
            kind,
            entity_id,
            trigger,
            actor=actor,
            role=role,
            payload=payload,
            key=idempotency_key,
            expected_version=expected_version,
            effective_at=effective_at,
        )
        started = time.perf_counter()
        written: list[Event] = []
        try:
            with self.db.begin() as connection:
                event = self._fire_locked(connection, request, written)
                if dry_run:
                    raise _DryRun(event)
                if self.sequencer.inline and not event.replayed:
                    event = sealed_inline(connection, event, written)
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
                log_transition(committed, seconds)
                for listener in list(self._listeners):
                    listener(committed)
        return event

    @contextmanager
    def rehearsal(self) -> Iterator[Callable[..., Event]]:
        """Fire several triggers in one transaction, each judged after the ones before, then roll back.

        Yields a function with :meth:`fire`'s arguments (``dry_run`` aside). Each call runs in a
        savepoint: a refused one leaves the earlier ones in place, as separate real fires would,
        and returns its event marked ``dry_run``. Nothing is committed, sealed, logged or announced.
        Its locks (SQLite's write lock; on PostgreSQL the entities touched) last the block: keep it short.
        """
        with self.db.begin() as connection:

            def fire(kind: str, entity_id: str | None, trigger: str, **arguments: Any) -> Event:
                request = self._request(
                    kind,
                    entity_id,
                    trigger,
                    actor=arguments["actor"],
                    role=arguments["role"],
                    payload=arguments.get("payload"),
                    key=arguments.get("idempotency_key"),
                    expected_version=arguments.get("expected_version"),
                    effective_at=arguments.get("effective_at"),
                )
                try:
                    with connection.begin_nested():
                        event = self._fire_locked(connection, request, [])
                except IntegrityError as exc:
                    if request.trigger == CREATE and request.entity_id is not None:
                        raise AlreadyExists(request.kind, request.entity_id) from exc
                    raise DatabaseError(f"{kind} {entity_id} {trigger}: {exc.orig}") from exc
                except OperationalError as exc:
                    raise unavailable(exc) from exc
                return replace(event, dry_run=True)

            try:
                yield fire
            finally:
                connection.rollback()

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

    def budget(self, measure_id: str) -> Budget:
        """A measure's budget, what is reserved of it and what is left, now.

        Raises:
            NotFound: no such measure.
        """
        from workflow.results import Budget

        return Budget.of(self.get("measure", measure_id))

    def as_of(self, moment: datetime) -> AsOf:
        """Every entity, list version and measure budget as they were at ``moment``, rebuilt from the log."""
        from workflow.results import as_of_report

        return as_of_report(self.db, moment)

    def replay(self, *, until_seq: int | None = None, as_of: datetime | None = None) -> ReplayReport:
        """Rebuild everything from the log and judge each event; a whole replay also checks the tables.

        Reads only: ``report.ok`` is the auditor's verdict (``filiere audit replay``).
        """
        from workflow.results import replay_report

        return replay_report(self.db, until_seq=until_seq, as_of=as_of)

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

    def _request(self, kind: str, entity_id: str | None, trigger: str, **arguments: Any) -> Request:
        """Everything checkable before the transaction: kind, arguments, role, payload."""
        return prepare_request(self._bound(kind), entity_id, trigger, **arguments)

    def _payload(self, bound: Bound, trigger: str, payload: Mapping[str, Any] | None) -> dict[str, Any]:
        return clean_payload(bound, trigger, payload)

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
