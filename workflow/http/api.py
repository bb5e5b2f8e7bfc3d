"""The HTTP API: what other regional systems call when they are not written in Python.

``create_app(engine)`` returns a FastAPI application (``filiere serve`` runs it
under uvicorn). Every request but ``/health`` carries an API key
(``Authorization: Bearer fk_…``); it acts as the key's actor in the key's role,
and the engine's role rules decide, exactly as on the CLI. Errors are the
engine's typed errors as ``application/problem+json`` (:mod:`workflow.http.problems`):
the status is the class's ``http_status``, the body names the kind and the
class's facts (the failed guard and why, the allowed roles, the field that is
wrong). Lists are paged by an opaque cursor (:mod:`workflow.http.paging`);
each key is rate-limited (:mod:`workflow.http.ratelimit`). ``Idempotency-Key`` makes a retried POST return the
first answer instead of firing twice.

The event feed, ``GET /v1/events?after=SEQ``, lists committed events in
sequence order; a follower stores the last ``seq`` it processed and asks for
what comes after. With ``wait=N`` the call waits up to N seconds for a first
event (long polling) instead of answering an empty page at once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import text

from handlers.timeutil import year_problem
from states import DEFINITIONS
from workflow.engine import Engine
from workflow.errors import FiliereError
from workflow.http import access, keys, openapi, paging, problems
from workflow.http.limits import BodyLimit
from workflow.http.ratelimit import Buckets, RateLimit
from workflow.http.schemas import (
    ERRORS,
    NAME,
    BudgetOut,
    CreateIn,
    EntityOut,
    EntityPage,
    EventOut,
    EventsPage,
    FireIn,
    HistoryPage,
    ListOut,
    Status,
    WhoAmI,
)
from workflow.store.db import reading

API_VERSION = "1.0.0"
Name = Annotated[str, Path(pattern=NAME, min_length=1, max_length=300)]
#: The kinds of entity, one per machine in ``states/``: an enum in the OpenAPI document.
KindName = StrEnum("KindName", {name: name for name in sorted(DEFINITIONS)})  # type: ignore[misc]


# --- the application -------------------------------------------------------------------------


def create_app(engine: Engine, *, rate_limit: RateLimit | str | None = "environment") -> FastAPI:
    """The HTTP API on ``engine``.

    ``rate_limit`` is the limit per key: ``FILIERE_RATE_LIMIT``'s (default 600 per minute) unless
    given; None for none.
    """
    app = FastAPI(
        title="Filiere",
        version=API_VERSION,
        summary="The workflow engine of public funding calls: transitions, entities, lists, the event log.",
        description="Fire transitions, read entities, lists and budgets, follow the event log.",
        contact={"name": "Filiere (the administration running it answers for its deployment)"},
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
        docs_url=None,
        redoc_url=None,
        openapi_tags=[
            {"name": "service", "description": "Liveness, readiness, the key in use."},
            {"name": "transitions", "description": "Create entities and fire their triggers."},
            {"name": "reading", "description": "Entities, histories, lists and budgets."},
            {"name": "feed", "description": "The committed events, in order."},
        ],
    )
    app.state.engine = engine
    limit = RateLimit.from_environment() if isinstance(rate_limit, str) else rate_limit
    app.state.buckets = Buckets(limit) if limit is not None else None
    app.add_middleware(BodyLimit)
    openapi.install(app)
    problems.install(app)
    _routes(app)
    from workflow.http.console import mount_console  # the pages for people, on the same engine

    mount_console(app)
    return app


class Unauthenticated(FiliereError):
    """No key, or a key that is malformed, unknown or revoked."""

    http_status = 401

    def __init__(self) -> None:
        self.headers = {"WWW-Authenticate": 'Bearer realm="filiere"'}
        super().__init__("a valid API key is required: Authorization: Bearer fk_…")


#: The security scheme the OpenAPI document declares, so that /docs can authorize.
BEARER = HTTPBearer(
    bearerFormat="fk_<key id>_<secret>",
    scheme_name="apiKey",
    description="An API key (`filiere apikey create`), sent as `Authorization: Bearer fk_…`.",
    auto_error=False,
)


def _caller(
    request: Request,
    response: Response,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> keys.ApiKey:
    engine: Engine = request.app.state.engine
    key = keys.authenticate(engine.db, credentials.credentials.strip()) if credentials else None
    if key is None:
        raise Unauthenticated()
    buckets: Buckets | None = request.app.state.buckets
    if buckets is not None:
        response.headers.update(buckets.take(key.id))
    return key


Caller = Annotated[keys.ApiKey, Depends(_caller)]


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(_engine)]
Cursor = Annotated[
    str | None, Query(max_length=1000, description="The `next` of the previous page; none for the first")
]
Limit = Annotated[int, Query(ge=1, le=paging.MAX_LIMIT, description="At most this many items")]


def _link(response: Response, link: str | None) -> None:
    if link is not None:
        response.headers["Link"] = link


def _routes(app: FastAPI) -> None:  # noqa: C901, PLR0915 - one nested function per endpoint
    @app.get("/health", tags=["service"])
    def health() -> dict[str, bool]:
        """Liveness: the process answers (no key needed)."""
        return {"ok": True}

    @app.get("/status", tags=["service"], responses={503: ERRORS[503]})
    def status(engine: EngineDep) -> Status:
        """Readiness, as the AgID guidelines name it: 200 when the database answers, 503 otherwise."""
        with reading(engine.db) as connection:
            connection.execute(text("SELECT 1"))
        return Status(status=200, title="OK")

    @app.get("/v1/whoami", tags=["service"], responses=ERRORS)
    def whoami(caller: Caller) -> WhoAmI:
        """The actor and role this key acts as."""
        return WhoAmI(key_id=caller.id, actor=caller.actor, role=caller.role)

    @app.post("/v1/entities/{kind}", tags=["transitions"], responses=ERRORS, status_code=201)
    def create(
        kind: KindName,
        body: CreateIn,
        engine: EngineDep,
        caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> EventOut:
        """Create an entity (a proposal, a partnership, a decree, an application…)."""
        return _fired(
            engine,
            caller,
            kind,
            body.id,
            "create",
            body=body,
            idempotency_key=idempotency_key,
            expected_version=None,
        )

    @app.post("/v1/entities/{kind}/{entity_id}/{trigger}", tags=["transitions"], responses=ERRORS)
    def fire(  # noqa: PLR0917 - FastAPI passes path, body and dependencies by name
        kind: KindName,
        entity_id: Name,
        trigger: Name,
        body: FireIn,
        engine: EngineDep,
        caller: Caller,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> EventOut:
        """Fire ``trigger`` on an entity: one transaction, one event (plus its follow-ups)."""
        return _fired(
            engine,
            caller,
            kind,
            entity_id,
            trigger,
            body=body,
            idempotency_key=idempotency_key,
            expected_version=body.expected_version,
        )

    @app.get("/v1/entities/{kind}", tags=["reading"], responses=ERRORS)
    def entities(  # noqa: PLR0917 - FastAPI passes the filters and the page by name
        kind: KindName,
        engine: EngineDep,
        caller: Caller,
        request: Request,
        response: Response,
        state: Annotated[str | None, Query(pattern=NAME)] = None,
        parent_id: Annotated[str | None, Query(pattern=NAME)] = None,
        cursor: Cursor = None,
        limit: Limit = paging.DEFAULT_LIMIT,
    ) -> EntityPage:
        """The entities of a kind the key may read, by id, in a state or under a call or measure if asked."""
        after = paging.decode(f"entities:{kind.value}", cursor, str)
        found = access.entities(
            engine.db,
            _reader(caller),
            kind.value,
            parent_id=parent_id,
            state=state,
            after=after,
            limit=limit + 1,
        )
        following = (
            paging.encode(f"entities:{kind.value}", found[limit - 1].id) if len(found) > limit else None
        )
        _link(response, paging.next_link(request, following))
        return EntityPage(items=[_entity(e) for e in found[:limit]], next=following)

    @app.get("/v1/entities/{kind}/{entity_id}", tags=["reading"], responses=ERRORS)
    def entity(kind: KindName, entity_id: Name, engine: EngineDep, caller: Caller) -> EntityOut:
        """One entity: state, version, data (404 as well for one the key may not read)."""
        return _entity(access.get(engine.db, _reader(caller), kind.value, entity_id))

    @app.get("/v1/entities/{kind}/{entity_id}/history", tags=["reading"], responses=ERRORS)
    def history(  # noqa: PLR0917 - FastAPI passes the entity and the page by name
        kind: KindName,
        entity_id: Name,
        engine: EngineDep,
        caller: Caller,
        request: Request,
        response: Response,
        cursor: Cursor = None,
        limit: Limit = paging.DEFAULT_LIMIT,
    ) -> HistoryPage:
        """The events of one entity the key may read, oldest first."""
        after = paging.decode("history", cursor, int) or 0
        found = access.history(
            engine.db, _reader(caller), kind.value, entity_id, after=after, limit=limit + 1
        )
        following = paging.encode("history", found[limit - 1].seq) if len(found) > limit else None
        _link(response, paging.next_link(request, following))
        return HistoryPage(items=[EventOut(**e.report()) for e in found[:limit]], next=following)

    @app.get("/v1/calls/{call_id}/list", tags=["reading"], responses=ERRORS)
    def call_list(
        call_id: Name,
        engine: EngineDep,
        _caller: Caller,
        as_of: Annotated[datetime | None, Query(description="ISO 8601 with an offset; default: now")] = None,
    ) -> ListOut:
        """The call's list (*elenco*) in force at a moment."""
        engine.get("call", call_id)
        moment = _aware(as_of)
        version = engine.list_as_of(call_id, moment)
        if version is None:
            from workflow.errors import NotFound

            raise NotFound("list version of call", call_id)
        return ListOut(
            call_id=version.call_id,
            number=version.number,
            decree_id=version.decree_id,
            approved_at=version.approved_at.isoformat(),
            proposal_ids=list(version.proposal_ids),
        )

    @app.get("/v1/measures/{measure_id}/budget", tags=["reading"], responses=ERRORS)
    def budget(measure_id: Name, engine: EngineDep, _caller: Caller) -> BudgetOut:
        """A measure's budget, what is reserved, what remains."""
        measure = engine.get("measure", measure_id)
        total, reserved = Decimal(measure.data["budget"]), Decimal(measure.data["reserved"])
        return BudgetOut(
            measure_id=measure.id,
            state=measure.state,
            budget=str(total),
            reserved=str(reserved),
            remaining=str(total - reserved),
        )

    @app.get("/v1/events", tags=["feed"], responses=ERRORS)
    async def events(
        engine: EngineDep,
        caller: Caller,
        after: Annotated[int, Query(ge=0, le=2**62)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        wait: Annotated[float, Query(ge=0, le=30, description="Seconds to wait for a first event")] = 0,
    ) -> EventsPage:
        """Sealed events after position ``after`` the key may read, in sealed order (the change feed)."""
        reader, loop = _reader(caller), asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            if not engine.sequencer.inline:  # what committed before we read is served (SQLite seals inline)
                await asyncio.to_thread(engine.seal)
            page = await asyncio.to_thread(access.feed, engine.db, reader, after=after, limit=limit)
            after = page.last_seq
            if page.events or loop.time() >= deadline:
                break
            if page.caught_up:  # nothing more to read yet: wait; otherwise read on at once
                await asyncio.sleep(0.2)
        return EventsPage(events=[EventOut(**e.report()) for e in page.events], last_seq=page.last_seq)


def _fired(
    engine: Engine,
    caller: keys.ApiKey,
    kind: Any,
    entity_id: str | None,
    trigger: str,
    *,
    body: FireIn,
    idempotency_key: str | None,
    expected_version: int | None,
) -> EventOut:
    """Fire as the key's actor and role; the event as it goes over the wire.

    An entity the key may not read is not found, for a fire as for a read.
    """
    if entity_id is not None and trigger != "create" and not _reader(caller).reads_all:
        access.get(engine.db, _reader(caller), kind.value, entity_id)
    event = engine.fire(
        kind.value,
        entity_id,
        trigger,
        actor=caller.actor,
        role=caller.role,
        payload=body.payload,
        idempotency_key=idempotency_key,
        expected_version=expected_version,
        dry_run=body.dry_run,
    )
    return EventOut(**event.report())


def _reader(caller: keys.ApiKey) -> access.Reader:
    return access.Reader(actor=caller.actor, role=caller.role)


def _entity(snapshot: Any) -> EntityOut:
    return EntityOut(
        kind=snapshot.kind,
        id=snapshot.id,
        state=snapshot.state,
        version=snapshot.version,
        parent_id=snapshot.parent_id,
        data=dict(snapshot.data),
    )


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.utcoffset() is None:
        from workflow.errors import InvalidInput

        raise InvalidInput("as_of", "needs an offset (e.g. 2023-01-01T00:00:00+01:00)")
    if moment is not None and year_problem(moment.year):
        from workflow.errors import InvalidInput

        raise InvalidInput("as_of", str(year_problem(moment.year)))
    return moment


def openapi_document() -> str:
    """The OpenAPI document, as committed under ``docs/openapi.json`` (``python -m workflow.http.api``)."""
    import json

    # The document needs no database: the engine is only read when a request is served.
    app = create_app(None)  # type: ignore[arg-type]
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(openapi_document(), end="")
