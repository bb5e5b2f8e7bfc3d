"""What a fire's arguments must be, checked before its transaction opens.

Bad input is refused here with a typed error and changes nothing: the
engine opens no transaction for a request that could never be written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from handlers.base import InvalidPayload
from handlers.payloads import MAX_PAYLOAD_BYTES, validate
from handlers.timeutil import year_problem
from workflow.canonical import dumps
from workflow.errors import InvalidInput
from workflow.machine import Bound
from workflow.step import Request, check_role


def prepare_request(
    bound: Bound,
    entity_id: str | None,
    trigger: str,
    *,
    actor: str,
    role: str,
    payload: Mapping[str, Any] | None,
    key: str | None,
    expected_version: int | None,
    effective_at: datetime | None,
) -> Request:
    """The request of a fire, every argument checked: role, payload, actor, key, id, time.

    Raises:
        InvalidInput: an argument is refused.
        ForbiddenRole: the role may not fire the trigger.
    """
    check_arguments(actor, key, effective_at, entity_id)
    check_role(bound.definition, trigger, role, bound.roles(trigger))
    clean = clean_payload(bound, trigger, payload)
    return Request(bound, entity_id, trigger, actor, role, clean, key, expected_version, effective_at)


def clean_payload(bound: Bound, trigger: str, payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """The payload validated by the trigger's model, in canonical form and within the size bound.

    Raises:
    InvalidInput: no such trigger, a field refused, a float, or too large.
    """
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
        size = len(dumps(clean))
    except TypeError as exc:  # a float (or worse) in a free-form part of the payload
        raise InvalidInput("payload", str(exc)) from exc
    if size > MAX_PAYLOAD_BYTES:  # the walk before validation estimates; this is the stored text
        raise InvalidInput("payload", f"{size} bytes of JSON is more than {MAX_PAYLOAD_BYTES // 1024} KiB")
    return clean


def check_arguments(
    actor: str, key: str | None, effective_at: datetime | None, entity_id: str | None = None
) -> None:
    """The arguments of a fire other than its payload: actor, key, id, effective time.

    Raises:
        InvalidInput: one is refused (before any transaction).
    """
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
    if effective_at is not None and year_problem(effective_at.year):
        raise InvalidInput("effective_at", str(year_problem(effective_at.year)))
