"""What a fire asks for, checked before any transaction: the arguments and the payload.

Everything here is decided from the request alone (no database), so a bad
request is refused before a write lock is taken: the caller's strings, the
effective time, and the payload as the trigger's model validates it, within
the input layer's bounds (``handlers.payloads``) and stored as canonical JSON.
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


def validated_payload(bound: Bound, trigger: str, payload: Mapping[str, Any] | None) -> dict[str, Any]:
    """The payload as the trigger's model validates it, bounded, in the JSON it will be stored as."""
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
    """Refuse, before any transaction, an actor, key, id or time the engine cannot store."""
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
