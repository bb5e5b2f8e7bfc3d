"""The HTTP API against its own OpenAPI document: schemathesis finds no 5xx and no schema violation.

Each operation of ``docs/openapi.json`` gets generated requests (schemathesis'
strategies, run by hypothesis), sent with an operator's key to the real app
on a real database holding an open call and a draft; ``call_and_validate``
fails on a 5xx, on an answer whose status or body the document does not
declare, and on the other default checks. Then schemathesis' state machine
chains calls along the document's links (a create's or a page of events'
entity read, its history, a trigger fired on it), with the same checks, and
the event chain must verify afterwards.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.parameters import ParameterLocation

from tests.factories import World, measure_config
from workflow.audit.verify import verify_chain
from workflow.http import keys
from workflow.http.api import create_app, openapi_document

DOCUMENT = Path(__file__).parent.parent.parent / "docs" / "openapi.json"
OPERATIONS = [
    (method.upper(), path)
    for path, methods in sorted(json.loads(DOCUMENT.read_text())["paths"].items())
    for method in sorted(methods)
]
#: Scenarios of the stateful test, each up to five linked calls: enough to fit the suite's time.
STATEFUL_EXAMPLES = 30


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_conforms(world: World, method: str, path: str) -> None:
    """Generated requests, authenticated: no 5xx, every answer as the document says."""
    world.open_call()
    world.draft()
    _key, secret = keys.create(world.engine.db, actor="op.rossi", role="operator", now=world.clock.now())
    operation = schemathesis.openapi.from_asgi("/openapi.json", create_app(world.engine))[path][method]

    strategy = operation.as_strategy()
    if path == "/v1/events":  # long polling is tested in test_http_api; here it would only wait
        strategy = strategy.map(_no_wait)

    @given(case=strategy)
    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def conforms(case: schemathesis.Case) -> None:
        # positive_data_acceptance is left out: a payload's shape depends on the kind and the
        # trigger, which one OpenAPI document cannot say; its 422 is typed and documented.
        case.call_and_validate(
            headers={"Authorization": f"Bearer {secret}"}, excluded_checks=[positive_data_acceptance]
        )

    conforms()


def _no_wait(case: schemathesis.Case) -> schemathesis.Case:
    case.query = {**(case.query or {}), "wait": 0}
    return case


def test_the_committed_document_is_current() -> None:
    """``docs/openapi.json`` is what the code serves (regenerate: python -m workflow.http.api)."""
    assert DOCUMENT.read_text() == openapi_document()


def test_stateful_sequences_follow_the_links(world: World) -> None:
    """Sequences along the document's links (create → read, fire; list → read, fire): no 5xx, chain intact.

    The database holds an open call, a partnership, a draft, a measure and an evaluator, so a
    list's first entity is real and the fired triggers meet the engine's guards and states.
    """
    world.open_call()
    world.draft()
    world.evaluator()
    world.engine.create("measure", actor="op.rossi", role="operator", payload=measure_config())
    _key, secret = keys.create(world.engine.db, actor="op.rossi", role="operator", now=world.clock.now())
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(world.engine))
    auth = {"Authorization": f"Bearer {secret}"}

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            if case.path == "/v1/events":
                case.query = {**(case.query or {}), "wait": 0}
            return {"headers": _headers(case, auth)}

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            case.validate_response(
                response, headers=_headers(case, auth), excluded_checks=[positive_data_acceptance]
            )

    Sequences.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=5,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    report = verify_chain(world.engine.db)
    assert report.ok, report


def _headers(case: schemathesis.Case, auth: dict[str, str]) -> dict[str, str]:
    """The key, unless the case's headers are the negative part (then it may lack the key on purpose).

    The key is the document's security scheme, so schemathesis counts it among the required
    headers: a case generated without it must be sent without it, and is answered 401.
    """
    component = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    return {} if component is not None and component.mode.is_negative else auth


@pytest.mark.slow
def test_longer_stateful_sequences(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, three times as many scenarios (marked slow)."""
    monkeypatch.setattr(sys.modules[__name__], "STATEFUL_EXAMPLES", 3 * STATEFUL_EXAMPLES)
    test_stateful_sequences_follow_the_links(world)
