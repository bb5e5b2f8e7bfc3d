"""Payload validation shared by every handler module.

Each handler module maps its triggers to a pydantic model in ``PAYLOADS``;
:func:`validate` turns a raw payload into the JSON-ready dict that the event
records, or raises :class:`InvalidPayload` naming the first bad field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from handlers.base import InvalidPayload


class Payload(BaseModel):
    """Base of every payload model: unknown fields are errors, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    def check(self) -> None:
        """Cross-field checks that must name their field; raise InvalidPayload."""


class Empty(Payload):
    """A trigger that takes no data."""


class Reason(Payload):
    """A trigger that needs a reason a person can read later."""

    reason: str


class OptionalReason(Payload):
    """A trigger whose reason may be left out."""

    reason: str | None = None


def validate(model: type[Payload], raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``raw`` against ``model`` and return it as JSON-ready data.

    Raises:
        InvalidPayload: naming the first failing field and why.
    """
    if raw is not None and not isinstance(raw, Mapping):
        raise InvalidPayload("payload", "must be a JSON object")
    try:
        parsed = model.model_validate(dict(raw or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        raise InvalidPayload(where, first["msg"]) from exc
    parsed.check()
    return parsed.model_dump(mode="json", exclude_none=True)
