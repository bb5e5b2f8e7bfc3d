"""What FastAPI's OpenAPI document cannot say by itself: links, the triggers, the door's 413, the AgID bits.

OpenAPI *links* tell a client (and a stateful tester such as schemathesis)
that the ``entity_kind`` and ``entity_id`` of a create's answer are what the
entity, history and fire operations take, and that the first entity of a list
or of a page of events can be read and fired on. The fire route's ``trigger`` is one of the machines'
triggers (any other is a 422), listed as ``TriggerName``. ``413`` is declared
wherever a body is read, because the body limit (:mod:`workflow.http.limits`)
answers before any route does. For the Italian API guidelines (their Spectral rule
set, ``tests/fixtures/spectral/``): errors are ``application/problem+json``, integers
and numbers carry a ``format``, rate-limit and ``Link`` headers are declared, and the
info has its ``x-summary``. ``/docs`` and ``/redoc`` are served from the package's own
copies of Swagger UI and ReDoc (``docs_static/``), so they work on a closed network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from states import DEFINITIONS
from workflow.http.limits import MAX_BODY_BYTES
from workflow.http.problems import MEDIA_TYPE

ASSETS = Path(__file__).parent / "docs_static"

ENTITY = "/v1/entities/{kind}/{entity_id}"
HISTORY = "/v1/entities/{kind}/{entity_id}/history"
FIRE = "/v1/entities/{kind}/{entity_id}/{trigger}"
LIST = "/v1/entities/{kind}"
EVENTS = "/v1/events"

#: From an answer (path, method, status) to the operations its body feeds, and with which fields.
#: Only links valid for every kind: a measure's budget or a call's list would 404 for the others.
_EVENT = {"kind": "$response.body#/entity_kind", "entity_id": "$response.body#/entity_id"}
_SNAPSHOT = {"kind": "$response.body#/kind", "entity_id": "$response.body#/id"}
_FIRST = {"kind": "$response.body#/items/0/kind", "entity_id": "$response.body#/items/0/id"}
_FIRST_EVENT = {
    "kind": "$response.body#/events/0/entity_kind",
    "entity_id": "$response.body#/events/0/entity_id",
}
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    (LIST, "post", "201"): {
        "Entity": (ENTITY, "get", _EVENT),
        "History": (HISTORY, "get", _EVENT),
        "Fire": (FIRE, "post", _EVENT),
    },
    (FIRE, "post", "200"): {
        "Entity": (ENTITY, "get", _EVENT),
        "History": (HISTORY, "get", _EVENT),
        "FireAgain": (FIRE, "post", _EVENT),
    },
    (ENTITY, "get", "200"): {"Fire": (FIRE, "post", _SNAPSHOT), "History": (HISTORY, "get", _SNAPSHOT)},
    (LIST, "get", "200"): {"First": (ENTITY, "get", _FIRST), "FireOnFirst": (FIRE, "post", _FIRST)},
    (EVENTS, "get", "200"): {
        "EntityOfFirst": (ENTITY, "get", _FIRST_EVENT),
        "HistoryOfFirst": (HISTORY, "get", _FIRST_EVENT),
        "FireOnFirst": (FIRE, "post", _FIRST_EVENT),
    },
}


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) return the document with links and 413s."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            completed(build())
        assert app.openapi_schema is not None  # FastAPI caches what it built
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount("/docs-static", StaticFiles(directory=ASSETS), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Filiere — API",
            swagger_js_url="/docs-static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/docs-static/swagger-ui/favicon-32x32.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="Filiere — API",
            redoc_js_url="/docs-static/redoc/redoc.standalone.js",
            redoc_favicon_url="/docs-static/swagger-ui/favicon-32x32.png",
            with_google_fonts=False,
        )


def completed(document: dict[str, Any]) -> dict[str, Any]:
    """Add the links and the 413 answers to FastAPI's ``document``, in place; return it."""
    paths = document["paths"]
    for (path, method, status), links in LINKS.items():
        answer = paths[path][method]["responses"][status]
        answer["links"] = {
            name: {"operationId": paths[target][verb]["operationId"], "parameters": parameters}
            for name, (target, verb, parameters) in links.items()
        }
    document["components"]["schemas"]["TriggerName"] = {
        "title": "TriggerName",
        "type": "string",
        "description": "A trigger of one of the machines (docs/machines.md says which kind has which).",
        "enum": sorted({trigger for definition in DEFINITIONS.values() for trigger in definition.triggers}),
    }
    for parameter in paths[FIRE]["post"]["parameters"]:
        if parameter["name"] == "trigger":
            parameter["schema"] = {"$ref": "#/components/schemas/TriggerName"}
    for operations in paths.values():
        for operation in operations.values():
            if "requestBody" in operation:
                operation["responses"]["413"] = {
                    "description": f"The body is larger than {MAX_BODY_BYTES // 1024} KiB.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
            _headers(operation)
    document["info"]["x-summary"] = document["info"]["summary"]
    _formats(document)
    return document


_INTEGER = {"type": "integer", "format": "int32"}
#: The rate-limit headers every answer to a key carries (workflow.http.ratelimit).
RATE_HEADERS = {
    "RateLimit-Limit": ("Requests a key may make per period.", _INTEGER),
    "RateLimit-Remaining": ("Requests left now.", _INTEGER),
    "RateLimit-Reset": ("Seconds until the allowance is whole again.", _INTEGER),
}


def _headers(operation: dict[str, Any]) -> None:
    """Problems as problem+json; rate-limit headers where a key is used; Retry-After on 429, Link on pages."""
    secured = "security" in operation
    for status, answer in operation["responses"].items():
        content = answer.get("content", {})
        if status[0] in "45" and "application/json" in content:
            content[MEDIA_TYPE] = content.pop("application/json")
        headers: dict[str, Any] = {}
        if secured and status[0] in "24" and status != "429":
            headers |= {name: {"description": d, "schema": s} for name, (d, s) in RATE_HEADERS.items()}
        if status == "429":
            headers["Retry-After"] = {
                "description": "Seconds to wait before trying again.",
                "schema": _INTEGER,
            }
        if status == "200" and "Page" in str(content.get("application/json", {}).get("schema", {})):
            headers["Link"] = {
                "description": 'The next page, rel="next" (RFC 8288).',
                "schema": {"type": "string"},
            }
        if headers:
            answer["headers"] = headers


def _formats(node: Any) -> None:
    """Give every integer and number schema a format (the guidelines' RAC_REST_FORMAT_004)."""
    if isinstance(node, dict):
        if node.get("type") == "integer" and "format" not in node:
            node["format"] = "int64"
        if node.get("type") == "number" and "format" not in node:
            node["format"] = "double"
        for value in node.values():
            _formats(value)
    elif isinstance(node, list):
        for value in node:
            _formats(value)
