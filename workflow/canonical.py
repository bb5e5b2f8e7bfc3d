"""Canonical bytes and the hash chain of the event log.

An event's hash is SHA-256 over the previous event's hash (hex, ASCII) and the
canonical JSON of the event (sorted keys, no whitespace, UTF-8, orjson). Floats
are refused in payloads: two encoders may print them differently, and money is
``Decimal`` strings anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

#: The ``prev_hash`` of the first event.
GENESIS = "0" * 64

#: The fields of an event that its hash covers, in the stored columns' names.
HASHED_FIELDS = (
    "seq",
    "entity_kind",
    "entity_id",
    "entity_version",
    "trigger",
    "from_state",
    "to_state",
    "actor",
    "role",
    "occurred_at",
    "effective_at",
    "payload",
    "definition_version",
    "cause_seq",
    "idempotency_key",
    "prev_hash",
)


def dumps(value: Any) -> bytes:
    """Canonical JSON bytes of ``value``.

    Raises:
        TypeError: ``value`` holds a float or something JSON cannot carry.
    """
    _refuse_floats(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _refuse_floats(value: Any) -> None:
    # Iterative, with exact-type fast paths: this walks every payload of every fire.
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict:
            pending.extend(item.values())
        elif kind is list or kind is tuple:
            pending.extend(item)
        elif isinstance(item, float):
            raise TypeError(f"floats are not allowed in canonical JSON ({item!r}); use a string")
        elif isinstance(item, Mapping):
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)


def timestamp(moment: datetime) -> str:
    """The canonical text of an instant: UTC, microseconds, ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not allowed in events")
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    # isoformat is ~5x faster than strftime, and verify formats two per event.
    return moment.isoformat(timespec="microseconds")[:26] + "Z"


def hashed_members(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The members an event's hash covers: the one place that says which.

    Format 1 covered :data:`HASHED_FIELDS`. Format 2 also covers
    ``request_hash``, the digest of an idempotent request, when the event has
    one: altering it would make a retry be refused, or a different request
    pass as a retry. The format is told by the hashed bytes themselves (the
    member is there or not); an event without a request hash is the same in
    both formats, so every log written before stays valid.
    """
    members = {name: fields[name] for name in HASHED_FIELDS}
    if fields.get("request_hash") is not None:
        members["request_hash"] = fields["request_hash"]
    return members


def event_bytes(fields: Mapping[str, Any]) -> bytes:
    """Canonical bytes of an event given its hashed fields (payload as parsed JSON)."""
    return orjson.dumps(hashed_members(fields), option=orjson.OPT_SORT_KEYS)


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """The hash of the event whose canonical bytes are ``canonical``."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


def canonical_text_time(value: Any) -> str:
    """A stored time as canonical text: SQLite's ``YYYY-MM-DD HH:MM:SS.ffffff`` rewritten, else formatted."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":
            return f"{value[:10]}T{value[11:]}Z"
        value = datetime.fromisoformat(value)
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return timestamp(value)
