"""What goes over the wire in the HTTP API: request and response bodies, typed for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: An entity id or a kind in a path: printable, no slash, 1 to 300 characters.
NAME = r"^[^\x00-\x1f\x7f/]{1,300}$"


class Problem(BaseModel):
    """Every error answer (RFC 9457 ``application/problem+json``): its members, then the class's facts."""

    type: str = Field(
        description="The kind of error, stable: urn:filiere:problem:<kind> (docs/embedding.md lists them), "
        "or about:blank for an HTTP error that is no engine error (an unknown path)."
    )
    title: str = Field(description="A short summary of the kind, the same for every occurrence.")
    status: int = Field(ge=100, le=599, description="The HTTP status.")
    detail: str = Field(description="What happened this time, for a person.")
    instance: str | None = Field(None, description="The path of the request that failed.")
    error: str = Field(description="The error class, e.g. GuardRefused, NotFound, InvalidInput.")
    guard: str | None = Field(None, description="For GuardRefused: the guard that said no.")
    reason: str | None = None
    field: str | None = Field(None, description="For InvalidInput: the field that is wrong.")
    allowed: list[str] | None = Field(None, description="What would have been allowed (roles, triggers).")
    details: dict[str, Any] = Field(default_factory=dict)


class EventOut(BaseModel):
    """A committed event, as the hash chain covers it."""

    seq: int
    entity_kind: str
    entity_id: str
    entity_version: int
    trigger: str
    from_state: str | None
    to_state: str
    actor: str
    role: str
    occurred_at: str = Field(description="UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ")
    effective_at: str
    payload: dict[str, Any]
    definition_version: str
    cause_seq: int | None
    idempotency_key: str | None
    request_hash: str | None = Field(
        None,
        exclude_if=lambda value: value is None,
        description="The digest of an idempotent request, when the event has one: the hash covers it.",
    )
    prev_hash: str
    hash: str
    position: int | None = Field(None, description="Sealed global position (1, 2, 3…): the feed's cursor.")
    replayed: bool = Field(False, description="True when an Idempotency-Key retry returned the first answer.")
    dry_run: bool = False


class EntityOut(BaseModel):
    """An entity as stored now."""

    kind: str
    id: str
    state: str
    version: int
    parent_id: str | None
    data: dict[str, Any]


class FireIn(BaseModel):
    """What to fire with: the trigger's payload, and optionally the version the caller saw."""

    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] = Field(default_factory=dict)
    expected_version: int | None = Field(None, ge=1, description="Refuse (409) if the entity moved on.")
    dry_run: bool = Field(False, description="Run everything, write nothing, return the event it would be.")


class CreateIn(FireIn):
    """A new entity: its payload, and an id where the kind takes one (evaluators)."""

    id: str | None = Field(None, pattern=NAME)


class ListOut(BaseModel):
    """A version of a call's list of recognised proposals."""

    call_id: str
    number: int
    decree_id: str
    approved_at: str
    proposal_ids: list[str]


class BudgetOut(BaseModel):
    """A measure's money: budget, reserved, remaining (decimal strings, euro)."""

    measure_id: str
    state: str
    budget: str
    reserved: str
    remaining: str


class EntityPage(BaseModel):
    """A page of entities; ask for the next with ``cursor=next`` (null: this was the last)."""

    items: list[EntityOut]
    next: str | None = Field(description="The cursor of the next page (opaque), or null on the last.")


class HistoryPage(BaseModel):
    """A page of an entity's events, oldest first; ask for the next with ``cursor=next``."""

    items: list[EventOut]
    next: str | None = Field(description="The cursor of the next page (opaque), or null on the last.")


class Status(BaseModel):
    """The service is up and its database answers."""

    status: int = Field(ge=100, le=599)
    title: str


class EventsPage(BaseModel):
    """A page of the event feed; ask again with ``after=last_seq``."""

    events: list[EventOut]
    last_seq: int = Field(
        description="Where to ask from next (`after=`): the sealed position of the last event on this "
        "page, or the `after` asked for; for an applicant's key, whose feed is filtered, it may be further "
        "on, past events it may not read."
    )


class WhoAmI(BaseModel):
    """The key this request acts with."""

    key_id: str
    actor: str
    role: str


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem} for status in (401, 403, 404, 409, 422, 429, 500, 503)
}
