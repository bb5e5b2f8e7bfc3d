"""Cursor paging for the API's lists: an opaque cursor, a bounded ``limit``, a ``next`` to follow.

A cursor is where the previous page stopped (the last id of a list of
entities, the last seq of a history), tagged with the list it belongs to and
encoded so that clients treat it as opaque: its form may change, a client only
hands it back. A cursor that does not decode, or belongs to another list, is
``InvalidInput`` on ``cursor`` (422). The event feed keeps its transparent
``after=seq``: a follower stores that number in its own transaction.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from fastapi import Request

from workflow.errors import InvalidInput

#: The page size when none is asked, and the largest one may ask.
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def encode(list_name: str, after: Any) -> str:
    """The cursor for ``list_name`` resuming after ``after``."""
    raw = orjson.dumps({"l": list_name, "a": after})
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(list_name: str, cursor: str | None, kind: type) -> Any:
    """Where the page ``cursor`` asks for starts (None: the first page).

    Raises:
        InvalidInput: the cursor is not one this API gave for ``list_name``.
    """
    if cursor is None:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        value = None
    if not isinstance(value, dict) or value.get("l") != list_name or type(value.get("a")) is not kind:
        raise InvalidInput("cursor", "not a cursor of this list: pass back the `next` of a page")
    return value["a"]


def next_link(request: Request, cursor: str | None) -> str | None:
    """The ``Link`` header (RFC 8288) of the next page, if there is one."""
    if cursor is None:
        return None
    return f'<{request.url.include_query_params(cursor=cursor)}>; rel="next"'
