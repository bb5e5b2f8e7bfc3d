"""Every HTTP error as ``application/problem+json`` (RFC 9457), as the AgID API guidelines ask.

A problem carries the RFC's members (``type``, ``title``, ``status``,
``detail``, ``instance``) and ours: ``error`` (the engine's class, as before),
``field``, ``guard``, ``reason``, ``allowed`` and ``details``. ``type`` is a
URN per error class, ``urn:filiere:problem:<kebab-case class name>``: stable
(a client may switch on it), and not a web address, because the engine runs
under each administration's own domain; ``docs/embedding.md`` lists them.
``title`` is fixed per type (the RFC wants it not to vary between occurrences);
``detail`` is the sentence about this occurrence.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException

from workflow.errors import DatabaseError, FiliereError, InvalidInput
from workflow.store.db import unavailable

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:filiere:problem:"

#: The title of each kind: a short sentence a person reads, the same for every occurrence.
TITLES = {
    "FiliereError": "The engine refused the request",
    "ConfigurationError": "A configuration is wrong",
    "InvalidDefinition": "A machine definition is wrong",
    "InvalidInput": "The input is malformed",
    "BodyTooLarge": "The request body is too large",
    "NotFound": "No such resource",
    "TransitionNotAllowed": "The trigger does not leave the current state",
    "GuardRefused": "A rule refused the transition",
    "ForbiddenRole": "The role may not do this",
    "ConflictError": "The request conflicts with the current state",
    "VersionConflict": "The entity changed meanwhile",
    "IdempotencyMismatch": "The idempotency key was used for another request",
    "AlreadyExists": "The entity exists already",
    "DatabaseError": "The database refused the transaction",
    "DatabaseUnavailable": "The database is unavailable",
    "AlreadyRunning": "Another scheduler is running",
    "HandlerError": "A domain handler failed",
    "FileUnavailable": "A file cannot be used",
    "Unauthenticated": "A valid API key is required",
    "TooManyRequests": "Too many requests for this key",
    "UnexpectedError": "Unexpected error",
}


def type_of(name: str) -> str:
    """The stable ``type`` URI of the error class ``name`` (``GuardRefused`` → ``…:guard-refused``)."""
    return TYPE_PREFIX + re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def problem(exc: FiliereError, instance: str | None = None) -> dict[str, Any]:
    """The problem document of ``exc``: RFC 9457's members, then the class's facts."""
    name = type(exc).__name__
    facts = {k: v for k, v in vars(exc).items() if not k.startswith("_")}
    allowed = facts.pop("allowed", None)
    facts.pop("headers", None)
    body: dict[str, Any] = {
        "type": type_of(name),
        "title": TITLES.get(name) or _nearest_title(type(exc)),
        "status": exc.http_status,
        "detail": str(exc),
        "instance": instance,
        "error": name,
        "guard": facts.pop("guard", None),
        "reason": facts.pop("reason", None),
        "field": facts.pop("field", None),
        "allowed": list(allowed) if allowed is not None else None,
        "details": {
            k: v for k, v in facts.items() if isinstance(v, str | int | float | bool | dict | list | None)
        },
    }
    return orjson.loads(orjson.dumps(body, default=str))  # type: ignore[no-any-return]


def generic(status: int, detail: str, instance: str | None = None) -> dict[str, Any]:
    """A problem that is no engine error: an unknown path, a method not allowed, a bug (``about:blank``)."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return {
        "type": "about:blank",
        "title": phrase,
        "status": status,
        "detail": detail,
        "instance": instance,
        "error": "UnexpectedError" if status >= 500 else phrase.replace(" ", ""),
        "guard": None,
        "reason": None,
        "field": None,
        "allowed": None,
        "details": {},
    }


def headers_of(exc: FiliereError) -> dict[str, str]:
    """Headers an error asks for (``Retry-After`` on a 429, ``WWW-Authenticate`` on a 401)."""
    headers = getattr(exc, "headers", None)
    return dict(headers) if isinstance(headers, dict) else {}


def response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """``body`` as an ``application/problem+json`` answer."""
    return Response(orjson.dumps(body), status_code=body["status"], media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as a problem (the console's pages keep their own)."""

    @app.exception_handler(FiliereError)
    async def filiere_error(request: Request, exc: FiliereError) -> Response:
        return response(problem(exc, request.url.path), headers_of(exc))

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> Response:
        # A read that met a database gone away (the engine's writes translate their own).
        error = unavailable(exc) if isinstance(exc, OperationalError) else DatabaseError(str(exc.orig))
        return response(problem(error, request.url.path))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "path", "query", "header"))
        return response(problem(InvalidInput(where, str(first["msg"])), request.url.path))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/console"):
            return await http_exception_handler(request, exc)
        return response(generic(exc.status_code, str(exc.detail), request.url.path), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, _exc: Exception) -> Response:
        # A bug outside the engine's handlers: a problem, never a traceback (the server logs it).
        return response(generic(500, "unexpected error; it has been logged", request.url.path))


def _nearest_title(cls: type) -> str:
    for parent in cls.__mro__[1:]:
        if parent.__name__ in TITLES:
            return TITLES[parent.__name__]
    return TITLES["FiliereError"]
