"""Bad input is refused by one input layer, naming the field, and writes nothing (issue 13, 6 and 8).

Each case once reached the domain and came back as a 500, a traceback or a
stored event: an amount like ``1e999999`` or with 29 digits, content nested
300 deep, a date in year 1 or 9999, NaN and Infinity (stored as ``null``),
amounts in Arabic-Indic or full-width digits or with underscores, a 10 MB
payload. Through the Python API on both backends, and through the HTTP API
(Starlette's ASGI client): a typed ``InvalidInput`` / 422 naming the field,
and the same rows and events as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from handlers.payloads import MAX_DEPTH, MAX_PAYLOAD_BYTES, MAX_STRING
from tests.factories import CALL_ID, World, applicants, call_config, measure_config
from workflow.errors import InvalidInput
from workflow.http import keys
from workflow.http.api import create_app
from workflow.http.limits import MAX_BODY_BYTES
from workflow.store.tables import ENTITY, EVENT

MEASURE = measure_config()
MEASURE_ID = "FILIERE-2022"  # the shipped measure's code, which is its id


def nested(depth: int) -> dict[str, Any]:
    """``{"a": {"a": ... 1}}``, ``depth`` objects deep."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@dataclass(frozen=True)
class Case:
    """One bad input: where it goes, as whom, and the field the refusal must name."""

    name: str
    kind: str
    trigger: str
    role: str
    payload: dict[str, Any]
    field: str
    entity: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _draft(**content: Any) -> dict[str, Any]:
    return {"call_id": CALL_ID, "partnership_id": "PT-000001", **content}


def _application(**changes: Any) -> dict[str, Any]:
    return {"measure_id": MEASURE_ID, "title": "Progetto", "duration_months": 12, "partners": applicants(2)}


def _with_partner_main(main: str) -> dict[str, Any]:
    payload = _application()
    payload["partners"][0] = {**payload["partners"][0], "main": main}
    return payload


CASES = [
    Case("budget 1e999999", "measure", "create", "operator", {**MEASURE, "budget": "1e999999"}, "budget"),
    Case("budget of 29 digits", "measure", "create", "operator", {**MEASURE, "budget": "9" * 29}, "budget"),
    Case(
        "budget in Arabic-Indic digits",
        "measure",
        "create",
        "operator",
        {**MEASURE, "budget": "٣٠٠٠"},
        "budget",
    ),
    Case(
        "budget in full-width digits",
        "measure",
        "create",
        "operator",
        {**MEASURE, "budget": "\uff13\uff10\uff10"},
        "budget",
    ),
    Case(
        "budget with underscores", "measure", "create", "operator", {**MEASURE, "budget": "1_000"}, "budget"
    ),
    Case(
        "top-up of 1e999999",
        "measure",
        "raise_budget",
        "director",
        {"amount": "1e999999", "act": "d.g.r. 1"},
        "amount",
        entity=MEASURE_ID,
    ),
    Case(
        "a partner's cost of 1e999999",
        "application",
        "create",
        "applicant",
        _with_partner_main("1e999999"),
        "partners.0.main",
    ),
    Case(
        "months with underscores",
        "application",
        "create",
        "applicant",
        {**_application(), "duration_months": "1_2"},
        "duration_months",
    ),
    Case(
        "window opening in year 1",
        "measure",
        "create",
        "operator",
        {**MEASURE, "window": {"opens_at": "0001-01-01T00:00"}},
        "window.opens_at",
    ),
    Case("content 300 deep", "proposal", "create", "applicant", _draft(content=nested(300)), "content"),
    Case("NaN", "proposal", "create", "applicant", _draft(content={"x": float("nan")}), "content.x"),
    Case("Infinity", "proposal", "create", "applicant", _draft(content={"x": float("inf")}), "content.x"),
    Case(
        "a 10 MB string",
        "proposal",
        "create",
        "applicant",
        _draft(content={"x": "a" * 10_000_000}),
        "content.x",
    ),
    Case(
        "a payload over 256 KiB",
        "proposal",
        "create",
        "applicant",
        _draft(content={f"k{n}": "a" * 60_000 for n in range(5)}),
        "payload",
    ),
    Case(
        "a huge integer",
        "proposal",
        "create",
        "applicant",
        _draft(content={"x": 10**30}),
        "content.x",
    ),
    Case(
        "call opening in year 1",
        "call",
        "create",
        "operator",
        {**call_config(), "opens_at": "0001-01-01T00:00"},
        "opens_at",
    ),
    Case(
        "call opening in year 9999",
        "call",
        "create",
        "operator",
        {**call_config(), "opens_at": "9999-12-31T23:59"},
        "opens_at",
    ),
    Case(
        "an extension to year 9999",
        "call",
        "extend",
        "operator",
        {"at": "9999-12-31T23:59", "act": "d.d.u.o. n. 9"},
        "at",
        entity=CALL_ID,
    ),
    Case(
        "an integration due in year 1",
        "proposal",
        "request_integration",
        "operator",
        {"reason": "manca l'accordo", "due": "0001-01-01T00:00"},
        "due",
        entity="P-000001",
    ),
    Case(
        "a score with underscores",
        "proposal",
        "evaluate",
        "evaluator",
        {"scores": {"coherence": "2_0"}},
        "scores.coherence",
        entity="P-000001",
    ),
]
ACTORS = {
    "operator": "op.rossi",
    "applicant": "capofila.alfa",
    "director": "dir.verdi",
    "evaluator": "eval.bianchi",
}


def _prepared(world: World) -> None:
    """An open call, a partnership, a draft P-000001, a planned measure: somewhere to aim at."""
    world.open_call()
    assert world.draft() == "P-000001"
    world.engine.create("measure", actor="op.rossi", role="operator", payload=MEASURE)


def _counts(world: World) -> tuple[int, int, str]:
    with world.engine.db.connect() as connection:
        events = connection.execute(select(func.count()).select_from(EVENT)).scalar_one()
        entities = connection.execute(select(func.count()).select_from(ENTITY)).scalar_one()
        versions = ",".join(
            f"{r.id}:{r.version}"
            for r in connection.execute(select(ENTITY.c.id, ENTITY.c.version).order_by(ENTITY.c.id))
        )
    return events, entities, versions


def test_the_python_api_refuses_and_writes_nothing(contract_world: World) -> None:
    """Engine.fire/create on SQLite and PostgreSQL: InvalidInput naming the field, no row, no event."""
    world = contract_world
    _prepared(world)
    before = _counts(world)
    wrong = []
    for case in CASES:
        try:
            world.engine.fire(
                case.kind,
                case.entity,
                case.trigger,
                actor=ACTORS[case.role],
                role=case.role,
                payload=case.payload,
            )
        except InvalidInput as exc:
            if not exc.field.startswith(case.field):
                wrong.append((case.name, exc.field, exc.reason))
        else:
            wrong.append((case.name, "accepted", ""))
        if _counts(world) != before:
            wrong.append((case.name, "wrote", str(_counts(world))))
    assert wrong == []


def test_an_effective_time_outside_the_years_is_refused(contract_world: World) -> None:
    """effective_at in year 1 (Python API only) is refused before the database is touched."""
    world = contract_world
    world.open_call()
    before = _counts(world)
    with pytest.raises(InvalidInput) as refused:
        world.engine.fire(
            "call",
            CALL_ID,
            "extend",
            actor="op.rossi",
            role="operator",
            payload={"at": "2022-06-30T16:00", "act": "d.d.u.o. n. 9"},
            effective_at=datetime(1, 1, 2, tzinfo=UTC),
        )
    assert refused.value.field == "effective_at"
    assert _counts(world) == before


def test_a_payload_at_the_bounds_is_accepted(world: World) -> None:
    """The limits refuse what is past them, not what reaches them."""
    world.open_call()
    world.partnership()
    content = {"deep": nested(MAX_DEPTH - 2), "long": "a" * MAX_STRING, "big": 2**53 - 1}
    event = world.engine.create(
        "proposal", actor="capofila.alfa", role="applicant", payload=_draft(content=content)
    )
    assert world.engine.get("proposal", event.entity_id).data["content"] == content
    assert (
        world.engine.fire(
            "call",
            CALL_ID,
            "extend",
            actor="op.rossi",
            role="operator",
            payload={"at": "2200-12-31T23:59", "act": "d. 9"},
        ).to_state
        == "open"
    )


# --- through HTTP ----------------------------------------------------------------------------------


class Http:
    """The real app on the test's SQLite file, a key per role."""

    def __init__(self, world: World) -> None:
        self.client = TestClient(create_app(world.engine), raise_server_exceptions=False)
        self.keys = {
            role: keys.create(world.engine.db, actor=actor, role=role, now=world.clock.now())[1]
            for role, actor in ACTORS.items()
        }

    def post(self, role: str, path: str, content: bytes | str, **headers: str) -> Any:
        headers = {
            "Authorization": f"Bearer {self.keys[role]}",
            "content-type": "application/json",
            **headers,
        }
        return self.client.post(path, content=content, headers=headers)


def _path(case: Case) -> str:
    return f"/v1/entities/{case.kind}" + (f"/{case.entity}/{case.trigger}" if case.entity else "")


def _json(value: Any) -> str:
    """JSON the way a careless client writes it: Python's json prints NaN and Infinity bare."""
    import json
    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 5000))
    try:
        return json.dumps(value)
    finally:
        sys.setrecursionlimit(limit)


def test_http_answers_422_naming_the_field_and_writes_nothing(world: World) -> None:
    """Every case over HTTP: a typed 4xx, never a 500, the field named, nothing written."""
    _prepared(world)
    http = Http(world)
    before = _counts(world)
    wrong = []
    for case in CASES:
        answer = http.post(case.role, _path(case), _json({"payload": case.payload}))
        body = answer.json()
        expected = 413 if len(_json({"payload": case.payload})) > MAX_BODY_BYTES else 422
        if answer.status_code != expected or body["error"] not in {"InvalidInput", "BodyTooLarge"}:
            wrong.append((case.name, answer.status_code, body))
        elif expected == 422 and not (body["field"].startswith(case.field) or body["field"] == "body"):
            wrong.append((case.name, body["field"], body["reason"]))
        if _counts(world) != before:
            wrong.append((case.name, "wrote", _counts(world)))
    assert wrong == []


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("NaN", '{"payload": {"call_id": "C", "partnership_id": "P", "content": {"x": NaN}}}', "body"),
        (
            "Infinity",
            '{"payload": {"call_id": "C", "partnership_id": "P", "content": {"x": -Infinity}}}',
            "body",
        ),
        ("invalid UTF-8", b'{"payload": {"title": "\xff"}}', "body"),
        ("5000 deep", '{"payload": {"content": ' + "[" * 5000 + "]" * 5000 + "}}", "body"),
        ("a NUL", '{"payload": {"call_id": "C", "partnership_id": "P", "title": "a\\u0000b"}}', "title"),
        ("not JSON", "{payload", "body"),
    ],
)
def test_http_refuses_what_json_cannot_be_trusted_with(
    world: World, name: str, body: Any, field: str
) -> None:
    """What Python's json would read (NaN, a bare Infinity) or choke on (5000 levels) is a 422."""
    world.open_call()
    http = Http(world)
    before = _counts(world)
    answer = http.post("applicant", "/v1/entities/proposal", body)
    assert (answer.status_code, answer.json()["error"], answer.json()["field"]) == (
        422,
        "InvalidInput",
        field,
    )
    assert _counts(world) == before


def test_http_refuses_a_large_body_before_reading_it(world: World) -> None:
    """A Content-Length past the limit is a 413 at once; a chunked body past it, as soon as it passes."""
    world.open_call()
    http = Http(world)
    before = _counts(world)
    declared = http.post("applicant", "/v1/entities/proposal", "x" * (MAX_BODY_BYTES + 1))
    chunks = iter([b'{"payload": {"content": "', b"a" * MAX_BODY_BYTES, b'"}}'])
    streamed = http.client.post(
        "/v1/entities/proposal",
        content=chunks,
        headers={"Authorization": f"Bearer {http.keys['applicant']}", "content-type": "application/json"},
    )
    assert [(a.status_code, a.json()["error"], a.json()["field"]) for a in (declared, streamed)] == [
        (413, "BodyTooLarge", "body"),
        (413, "BodyTooLarge", "body"),
    ]
    assert _counts(world) == before


def test_http_refuses_a_list_as_of_year_one(world: World) -> None:
    """A date in a query is held to the same years."""
    world.open_call()
    http = Http(world)
    answer = http.client.get(
        f"/v1/calls/{CALL_ID}/list",
        params={"as_of": "0001-01-01T00:00:00+01:00"},
        headers={"Authorization": f"Bearer {http.keys['operator']}"},
    )
    assert (answer.status_code, answer.json()["field"]) == (422, "as_of")


def test_http_still_accepts_a_body_under_the_limit(world: World) -> None:
    """A payload near the 256 KiB bound goes through the door and is stored."""
    world.open_call()
    http = Http(world)
    partnership = world.partnership()
    content = {f"k{n}": "a" * 60_000 for n in range(4)}
    body = _json({"payload": {"call_id": CALL_ID, "partnership_id": partnership, "content": content}})
    answer = http.post("applicant", "/v1/entities/proposal", body)
    assert answer.status_code == 201, answer.json()
    assert len(body) > MAX_PAYLOAD_BYTES * 0.9


@pytest.mark.parametrize("budget", ['"1e999999"', "inf", "nan", '"1_000"', '"' + "9" * 29 + '"', "1e999999"])
def test_a_measure_file_with_an_unbounded_budget_is_refused(tmp_path: Any, budget: str) -> None:
    """The measure file goes through the same layer: a ConfigurationError naming ``budget``."""
    from workflow.config import example_measure_path, read_measure_file
    from workflow.errors import ConfigurationError

    text = example_measure_path("bando-filiere-2022").read_text(encoding="utf-8")
    path = tmp_path / "measure.toml"
    path.write_text(text.replace('budget = "4000000.00"', f"budget = {budget}", 1), encoding="utf-8")
    with pytest.raises(ConfigurationError) as refused:
        read_measure_file(path)
    assert refused.value.field == "budget"
