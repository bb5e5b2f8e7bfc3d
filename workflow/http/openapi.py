"""What FastAPI's OpenAPI document cannot say by itself: links, the triggers, the door's 413.

OpenAPI *links* tell a client (and a stateful tester such as schemathesis)
that the ``entity_kind`` and ``entity_id`` of a create's answer are what the
entity, history and fire operations take, and that the first entity of a list
or of a page of events can be read and fired on. The fire route's ``trigger`` is one of the machines'
triggers (any other is a 422), listed as ``TriggerName``. ``413`` is declared
wherever a body is read, because the body limit (:mod:`workflow.http.limits`)
answers before any route does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from states import DEFINITIONS
from workflow.http.limits import MAX_BODY_BYTES

ENTITY = "/v1/entities/{kind}/{entity_id}"
HISTORY = "/v1/entities/{kind}/{entity_id}/history"
FIRE = "/v1/entities/{kind}/{entity_id}/{trigger}"
LIST = "/v1/entities/{kind}"
EVENTS = "/v1/events"

#: From an answer (path, method, status) to the operations its body feeds, and with which fields.
#: Only links valid for every kind: a measure's budget or a call's list would 404 for the others.
_EVENT = {"kind": "$response.body#/entity_kind", "entity_id": "$response.body#/entity_id"}
_SNAPSHOT = {"kind": "$response.body#/kind", "entity_id": "$response.body#/id"}
_FIRST = {"kind": "$response.body#/0/kind", "entity_id": "$response.body#/0/id"}
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
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                }
    return document
