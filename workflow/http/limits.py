"""The HTTP API's door: a request body is bounded before anything parses it.

A body larger than :data:`MAX_BODY_BYTES` is answered 413 while it is still
being read (a ``Content-Length`` that says so is refused before a byte is
read); a JSON body that is not JSON a reader can trust (``NaN``, ``Infinity``,
invalid UTF-8, nesting deeper than :data:`MAX_BODY_DEPTH`, or no JSON at all)
is answered 422 before FastAPI's recursive parser meets it. The payload inside is then bounded
precisely by the engine (:mod:`handlers.payloads`): 256 KiB, 32 levels.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from handlers.payloads import MAX_DEPTH, MAX_PAYLOAD_BYTES
from workflow.errors import InvalidInput
from workflow.http.problems import MEDIA_TYPE, problem

#: The largest request body: twice the largest payload, room for the envelope and indentation.
MAX_BODY_BYTES = 2 * MAX_PAYLOAD_BYTES
#: The deepest body: the payload's own bound, plus the envelope, plus room to name the field.
MAX_BODY_DEPTH = 2 * MAX_DEPTH

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(InvalidInput):
    """The request body is larger than the API reads."""

    http_status = 413

    def __init__(self, size: int | None = None) -> None:
        told = f"{size} bytes is " if size is not None else ""
        super().__init__("body", f"{told}more than {MAX_BODY_BYTES // 1024} KiB")


class BodyLimit:
    """ASGI middleware: read the whole body within the bound, check it, and hand it on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer at most :data:`MAX_BODY_BYTES`: a body is small, and read whole by FastAPI anyway."""
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS", "DELETE"}:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            await _refuse(send, BodyTooLarge(int(declared) if declared.isdigit() else None), scope["path"])
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await _refuse(send, BodyTooLarge(), scope["path"])
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and b"json" in headers.get(b"content-type", b"").lower():
            wrong = _json_problem(body)
            if wrong:
                await _refuse(send, InvalidInput("body", wrong), scope["path"])
                return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body read already, then the client's own messages."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def _json_problem(body: bytes) -> str | None:
    """Why a JSON body is refused at the door, or None: orjson parses without recursing."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return f"not JSON (UTF-8, no NaN or Infinity): {exc}"
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_BODY_DEPTH:
                return f"nested deeper than {MAX_BODY_DEPTH} levels"
            pending.extend(
                (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return None


async def _refuse(send: Send, error: InvalidInput, path: str) -> None:
    body = orjson.dumps(problem(error, path))
    await send(
        {
            "type": "http.response.start",
            "status": error.http_status,
            "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
