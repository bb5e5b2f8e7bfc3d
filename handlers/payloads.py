"""Payload validation shared by every handler module, and the bounds every input meets first.

Each handler module maps its triggers to a pydantic model in ``PAYLOADS``;
:func:`validate` turns a raw payload into the JSON-ready dict that the event
records, or raises :class:`InvalidPayload` naming the first bad field.

Before any model sees it, a raw payload is walked once by :func:`check_bounds`:
pydantic and the canonical encoder recurse, convert NaN to ``null`` and accept
ten megabytes as readily as ten bytes, so what is too deep, too large, not a
finite number or not storable text is refused here, by one rule for the Python
API, the HTTP API and the CLI (whose raw JSON text goes through
:func:`parse_json`). The limits are documented in ``docs/embedding.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Strict, ValidationError

from handlers.base import InvalidPayload
from handlers.timeutil import year_problem

#: The largest payload, counted as its JSON text (about: escapes are not counted).
MAX_PAYLOAD_BYTES = 256 * 1024
#: The deepest nesting of objects and lists inside a payload.
MAX_DEPTH = 32
#: The longest string (characters), and the longest key of an object.
MAX_STRING = 65_536
MAX_KEY = 300
#: The largest integer magnitude: what every JSON reader, JavaScript's too, reads exactly (RFC 7493).
MAX_INT = 2**53 - 1
MAX_INT_DIGITS = 16

#: An integer field: a JSON number only, never a string (pydantic would read "1_000") or a float.
Int = Annotated[int, Strict()]


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
    check_bounds(raw)
    try:
        parsed = model.model_validate(dict(raw or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        raise InvalidPayload(where, first["msg"]) from exc
    except ArithmeticError as exc:  # a validator met a number it cannot compute with (overflow too)
        raise InvalidPayload("payload", f"a number out of range: {exc}") from exc
    parsed.check()
    return parsed.model_dump(mode="json", exclude_none=True)


def parse_json(text: str | bytes, field: str = "payload") -> Any:
    """Parse JSON text within the bounds: the door for raw text (a ``--data`` file, a batch line).

    The size is checked before parsing; orjson refuses ``NaN``, ``Infinity`` and invalid UTF-8
    itself, and :func:`check_bounds` the rest.

    Raises:
        InvalidPayload: naming ``field``.
    """
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > 2 * MAX_PAYLOAD_BYTES:
        raise InvalidPayload(field, f"{size} bytes is more than {2 * MAX_PAYLOAD_BYTES // 1024} KiB of JSON")
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidPayload(field, f"not JSON (UTF-8, no NaN or Infinity): {exc}") from exc
    check_bounds(value, field)
    return value


def check_bounds(raw: Any, field: str = "payload") -> None:
    """Refuse a raw value that is too deep, too large, not finite or not storable text.

    Iterative on purpose: a recursive walk is what 300 levels of nesting break.

    Raises:
        InvalidPayload: naming the field (``content.a.b``) where the walk stopped.
    """
    size = 0
    pending: list[tuple[Any, str, int]] = [(raw, "", 0)]
    while pending:
        item, where, depth = pending.pop()
        if isinstance(item, Mapping | list | tuple):
            if depth >= MAX_DEPTH:
                raise InvalidPayload(where or field, f"nested deeper than {MAX_DEPTH} levels")
            pairs = item.items() if isinstance(item, Mapping) else enumerate(item)
            for key, value in pairs:
                size += _key_size(key, where or field)
                pending.append((value, f"{where}.{key}" if where else str(key), depth + 1))
        else:
            size += _scalar_size(item, where or field)
        if size > MAX_PAYLOAD_BYTES:
            raise InvalidPayload(field, f"larger than {MAX_PAYLOAD_BYTES // 1024} KiB")


def _key_size(key: Any, where: str) -> int:
    if type(key) is int:  # a list's index
        return 1
    if not isinstance(key, str) or len(key) > MAX_KEY or "\x00" in key:
        raise InvalidPayload(where, f"keys are strings of at most {MAX_KEY} characters ({str(key)[:40]!r})")
    return len(key) + 4


def _scalar_size(item: Any, where: str) -> int:
    """About the JSON size of a scalar, or InvalidPayload if it is one no event may hold."""
    if isinstance(item, str):
        if len(item) > MAX_STRING:
            raise InvalidPayload(where, f"longer than {MAX_STRING} characters")
        if "\x00" in item:
            raise InvalidPayload(where, "a NUL character cannot be stored")
        return len(item) + 3
    if item is None or isinstance(item, bool):
        return 5
    if isinstance(item, int) and not -MAX_INT <= item <= MAX_INT:
        raise InvalidPayload(where, f"integers lie within ±{MAX_INT}; amounts are strings")
    if isinstance(item, float) and not math.isfinite(item):
        raise InvalidPayload(where, 'NaN and Infinity are not numbers; amounts are strings like "1234.50"')
    if isinstance(item, Decimal) and not (item.is_finite() and item.adjusted() < MAX_INT_DIGITS):
        raise InvalidPayload(where, "not a finite amount within bounds")
    if isinstance(item, date):
        problem = year_problem(item.year)
        if problem:
            raise InvalidPayload(where, problem)
    return 24
