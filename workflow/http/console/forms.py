"""Forms generated from the payload models, and form values turned back into a payload.

The payload models in ``handlers/`` are the one description of what a trigger
takes; the console reads their JSON schema instead of keeping forms of its own,
so a new field appears in the console the day it appears in the model. Plain
fields get plain inputs; lists of strings a text area with one item per line;
anything nested a JSON text area. The engine validates the result, and its
refusal is shown next to the field it names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from workflow.errors import InvalidInput

#: Form field names the console uses itself; a payload field never takes them.
RESERVED = frozenset({"csrf", "idempotency_key", "trigger", "dry_run"})


@dataclass(frozen=True, slots=True)
class FormField:
    """One input of a generated form."""

    name: str
    widget: str  # text, number, decimal, datetime, lines, json, checkbox
    required: bool
    description: str = ""


def _kinds(spec: dict[str, Any]) -> set[str]:
    kinds = {spec["type"]} if isinstance(spec.get("type"), str) else set()
    for option in spec.get("anyOf", []):
        kinds |= _kinds(option)
    if "$ref" in spec or "additionalProperties" in spec:
        kinds.add("object")
    return kinds


def _widget(name: str, spec: dict[str, Any]) -> str:  # noqa: PLR0911 - one answer per kind of input
    kinds = _kinds(spec) - {"null"}
    items = spec.get("items", {})
    if kinds == {"array"} and _kinds(items) <= {"string"}:
        return "lines"
    if kinds & {"object", "array"}:
        return "json"
    if kinds == {"boolean"}:
        return "checkbox"
    if kinds == {"integer"}:
        return "number"
    if "number" in kinds:
        return "decimal"  # money travels as text: never a float
    if name in ("due", "at") or "date-time" in str(spec.get("format", "")):
        return "datetime"
    return "text"


def fields_of(model: type[BaseModel]) -> list[FormField]:
    """The inputs of ``model``'s form, in the model's field order."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    return [
        FormField(name, _widget(name, spec), name in required, str(spec.get("description", "")))
        for name, spec in schema.get("properties", {}).items()
        if name not in RESERVED
    ]


def payload_from(model: type[BaseModel], form: dict[str, str]) -> dict[str, Any]:
    """The payload a submitted form asks for: empty optional inputs are left out.

    Raises:
        InvalidInput: a JSON area that is not JSON, or an integer that is not one (the
            engine then checks the rest, field by field).
    """
    payload: dict[str, Any] = {}
    for field in fields_of(model):
        raw = form.get(field.name, "")
        if field.widget == "checkbox":
            payload[field.name] = raw in ("on", "true", "1")
            continue
        raw = raw.strip()
        if not raw:
            continue
        if field.widget == "lines":
            payload[field.name] = [line.strip() for line in raw.splitlines() if line.strip()]
        elif field.widget == "json":
            try:
                payload[field.name] = json.loads(raw, parse_float=str, parse_constant=_no_constant)
            except ValueError as exc:
                raise InvalidInput(field.name, "is not valid JSON") from exc
        elif field.widget == "number":
            if not raw.lstrip("-").isascii() or not raw.lstrip("-").isdigit() or len(raw) > 18:
                raise InvalidInput(field.name, "must be a whole number")
            payload[field.name] = int(raw)
        else:
            payload[field.name] = raw
    return payload


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")
