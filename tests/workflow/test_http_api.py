"""The HTTP API, called over HTTP (Starlette's ASGI client): every endpoint, error class and role."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import CALL_ID, World, measure_config, partners
from workflow.http import keys
from workflow.http.api import create_app
from workflow.store.db import make_engine

ROLES = ("applicant", "operator", "evaluator", "director", "system", "auditor")
ACTORS = {
    "applicant": "capofila.alfa",
    "operator": "op.rossi",
    "evaluator": "eval.bianchi",
    "director": "dir.verdi",
    "system": "system",
    "auditor": "corte.conti",
}


class Api:
    """A client per role over the real app, on the test's real database."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.client = TestClient(create_app(world.engine))
        self.keys = {
            role: keys.create(world.engine.db, actor=ACTORS[role], role=role, now=world.clock.now())[1]
            for role in ROLES
        }

    def as_(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def post(self, role: str, path: str, body: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.client.post(path, json=body or {}, headers={**self.as_(role), **headers})

    def get(self, role: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.as_(role))

    def fire(
        self, role: str, kind: str, entity: str, trigger: str, payload: dict[str, Any] | None = None
    ) -> Any:
        return self.post(role, f"/v1/entities/{kind}/{entity}/{trigger}", {"payload": payload or {}})


@pytest.fixture(name="api")
def _api(world: World) -> Iterator[Api]:
    world.at(2022, 2, 25, 10)
    api = Api(world)
    with api.client:
        yield api


def phase_one(api: Api) -> dict[str, str]:
    """The call created and opened, a partnership, a draft submitted, evaluated, listed: over HTTP."""
    from tests.factories import call_config

    created = api.post("operator", "/v1/entities/call", {"payload": call_config()})
    assert created.status_code == 201, created.json()
    api.world.at(2022, 3, 1, 9)
    assert api.fire("system", "call", CALL_ID, "open").status_code == 200
    partnership = api.post(
        "applicant",
        "/v1/entities/partnership",
        {"payload": {"name": "Filiera alfa", "agreement": "Accordo 2022", "partners": partners()}},
    ).json()["entity_id"]
    draft = {
        "call_id": CALL_ID,
        "partnership_id": partnership,
        "title": "Filiera dell'auto elettrica",
        "summary": "Progetto di filiera",
        "areas": ["a", "b"],
    }
    proposal = api.post("applicant", "/v1/entities/proposal", {"payload": draft}).json()["entity_id"]
    api.world.at(2022, 9, 10, 11)
    submitted = api.post(
        "applicant", f"/v1/entities/proposal/{proposal}/submit", {}, **{"Idempotency-Key": "submit-1"}
    )
    assert submitted.status_code == 200, submitted.json()
    api.post(
        "operator",
        "/v1/entities/evaluator",
        {"id": "eval.bianchi", "payload": {"name": "Anna Bianchi", "ties": []}},
    )
    scores = {"coherence": 20, "partnership": 20, "innovation": 25, "impact": 15}
    assert api.fire("evaluator", "proposal", proposal, "evaluate", {"scores": scores}).status_code == 200
    api.world.at(2022, 10, 14, 12)
    decree = api.post(
        "director",
        "/v1/entities/decree",
        {"payload": {"call_id": CALL_ID, "act": "d.d.u.o. n. 1", "proposal_ids": [proposal]}},
    ).json()["entity_id"]
    assert api.fire("director", "decree", decree, "approve").status_code == 200
    return {"partnership": partnership, "proposal": proposal, "decree": decree}


class TestAuthentication:
    def test_health_needs_no_key(self, api: Api) -> None:
        assert api.client.get("/health").json() == {"ok": True}

    @pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer fk_000000000000_wrong"])
    def test_no_valid_key_is_401(self, api: Api, header: str | None) -> None:
        """Missing, malformed or unknown keys: 401 with a typed body; nothing is read."""
        headers = {"Authorization": header} if header else {}
        answer = api.client.get(f"/v1/entities/call/{CALL_ID}", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"] == "Unauthenticated"

    def test_a_revoked_key_stops_at_once(self, api: Api) -> None:
        key_id = api.keys["operator"].split("_")[1]
        assert api.get("operator", "/v1/whoami").status_code == 200
        keys.revoke(api.world.engine.db, key_id, api.world.clock.now())
        assert api.get("operator", "/v1/whoami").status_code == 401

    def test_the_secret_is_not_stored(self, api: Api) -> None:
        """Only a digest of the secret is in the database."""
        from sqlalchemy import select

        from workflow.store.tables import API_KEY

        with api.world.engine.db.connect() as connection:
            stored = " ".join(str(v) for row in connection.execute(select(API_KEY)) for v in row)
        assert all(key.split("_", 2)[2] not in stored for key in api.keys.values())

    @pytest.mark.parametrize("role", ROLES)
    def test_each_key_acts_as_its_actor_and_role(self, api: Api, role: str) -> None:
        assert api.get(role, "/v1/whoami").json() | {"key_id": None} == {
            "key_id": None,
            "actor": ACTORS[role],
            "role": role,
        }


class TestPhaseOneOverHttp:
    def test_full_flow_and_reads(self, api: Api) -> None:
        """Create, open, register, draft, submit, evaluate, decree: then every read endpoint."""
        ids = phase_one(api)
        proposal = api.get("auditor", f"/v1/entities/proposal/{ids['proposal']}").json()
        assert (proposal["state"], proposal["version"], proposal["parent_id"]) == ("listed", 4, CALL_ID)
        history = api.get("auditor", f"/v1/entities/proposal/{ids['proposal']}/history").json()["items"]
        assert [e["trigger"] for e in history] == ["create", "submit", "evaluate", "list"]
        listed = api.get("auditor", f"/v1/calls/{CALL_ID}/list").json()
        assert (listed["number"], listed["proposal_ids"]) == (1, [ids["proposal"]])
        before = api.get("auditor", f"/v1/calls/{CALL_ID}/list", as_of="2022-10-01T00:00:00+02:00")
        assert before.status_code == 404
        everything = api.get("auditor", "/v1/entities/proposal").json()["items"]
        assert [p["id"] for p in everything] == [ids["proposal"]]
        assert api.get("auditor", "/v1/entities/proposal", state="draft").json() == {
            "items": [],
            "next": None,
        }
        under = api.get("auditor", "/v1/entities/proposal", parent_id=CALL_ID, state="listed").json()["items"]
        assert [p["id"] for p in under] == [ids["proposal"]]

    def test_idempotency_key(self, api: Api) -> None:
        """The same key and request: the first answer again, marked replayed; another request: 409."""
        ids = phase_one(api)
        again = api.post(
            "applicant",
            f"/v1/entities/proposal/{ids['proposal']}/submit",
            {},
            **{"Idempotency-Key": "submit-1"},
        )
        assert again.status_code == 200
        assert again.json()["replayed"] is True
        other = api.post(
            "applicant",
            f"/v1/entities/proposal/{ids['proposal']}/withdraw",
            {"payload": {"reason": "ci ripensiamo"}},
            **{"Idempotency-Key": "submit-1"},
        )
        assert (other.status_code, other.json()["error"]) == (409, "IdempotencyMismatch")

    def test_measure_budget(self, api: Api) -> None:
        api.world.at(2022, 10, 1, 9)
        created = api.post("operator", "/v1/entities/measure", {"payload": measure_config()})
        assert created.status_code == 201, created.json()
        measure = created.json()["entity_id"]
        budget = api.get("auditor", f"/v1/measures/{measure}/budget").json()
        assert budget["reserved"] == "0.00"
        assert budget["remaining"] == budget["budget"]
        assert budget["state"] == "planned"

    def test_dry_run_writes_nothing(self, api: Api) -> None:
        created = api.post(
            "operator",
            "/v1/entities/call",
            {"payload": __import__("tests.factories").factories.call_config(), "dry_run": True},
        )
        assert (created.status_code, created.json()["dry_run"]) == (201, True)
        assert api.get("auditor", f"/v1/entities/call/{CALL_ID}").status_code == 404


class TestErrors:
    """Every error class the API answers, with the facts a caller needs."""

    def test_guard_refused_names_the_guard(self, api: Api) -> None:
        ids = phase_one(api)
        api.world.at(2028, 1, 3, 9)  # after the last extension of the deadline
        late = api.post(
            "applicant",
            "/v1/entities/proposal",
            {
                "payload": {
                    "call_id": CALL_ID,
                    "partnership_id": ids["partnership"],
                    "title": "Tardiva",
                    "summary": "x",
                    "areas": ["a"],
                }
            },
        ).json()
        body = (
            late if "error" in late else api.fire("applicant", "proposal", late["entity_id"], "submit").json()
        )
        assert body["error"] == "GuardRefused"
        assert body["guard"] in ("deadline_not_passed", "call_accepts_drafts")
        assert body["reason"]

    def test_transition_not_allowed(self, api: Api) -> None:
        ids = phase_one(api)
        answer = api.fire("applicant", "proposal", ids["proposal"], "submit")
        assert (answer.status_code, answer.json()["error"]) == (409, "TransitionNotAllowed")
        assert "withdraw" in answer.json()["allowed"]

    def test_forbidden_role_and_auditors_fire_nothing(self, api: Api) -> None:
        ids = phase_one(api)
        for trigger in ("withdraw", "fund"):
            answer = api.fire("auditor", "proposal", ids["proposal"], trigger)
            assert (answer.status_code, answer.json()["error"]) == (403, "ForbiddenRole")
        assert (
            api.post("auditor", "/v1/entities/evaluator", {"id": "x", "payload": {"name": "x"}}).status_code
            == 403
        )

    def test_not_found(self, api: Api) -> None:
        for path in (
            "/v1/entities/proposal/P-999999",
            "/v1/entities/proposal/P-999999/history",
            "/v1/measures/NOPE/budget",
        ):
            answer = api.get("auditor", path)
            assert (answer.status_code, answer.json()["error"]) == (404, "NotFound")

    def test_invalid_input(self, api: Api) -> None:
        """A bad payload, an unknown kind, a malformed body: 422 naming the field."""
        bad = api.post(
            "operator", "/v1/entities/evaluator", {"id": "e1", "payload": {"name": "x", "ties": "no"}}
        )
        assert (bad.status_code, bad.json()["error"], bad.json()["field"]) == (422, "InvalidInput", "ties")
        unknown = api.post("operator", "/v1/entities/invoice", {"payload": {}})
        assert (unknown.status_code, unknown.json()["error"]) == (422, "InvalidInput")
        extra = api.client.post("/v1/entities/call", json={"nope": 1}, headers=api.as_("operator"))
        assert (extra.status_code, extra.json()["error"]) == (422, "InvalidInput")
        naive = api.get("auditor", f"/v1/calls/{CALL_ID}/list", as_of="2022-10-01T00:00:00")
        assert naive.status_code in (404, 422)

    def test_conflicts(self, api: Api) -> None:
        """A stale expected_version, and an id created twice: 409."""
        ids = phase_one(api)
        stale = api.post(
            "applicant",
            f"/v1/entities/proposal/{ids['proposal']}/withdraw",
            {"expected_version": 1},
        )
        assert (stale.status_code, stale.json()["error"]) == (409, "VersionConflict")
        twice = api.post(
            "operator", "/v1/entities/evaluator", {"id": "eval.bianchi", "payload": {"name": "B", "ties": []}}
        )
        assert (twice.status_code, twice.json()["error"]) == (409, "AlreadyExists")

    def test_a_handler_bug_is_500_and_rolled_back(self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        """A domain handler that crashes (a bug): 500 HandlerError, and nothing was written."""
        import handlers.evaluator

        api.post(
            "operator", "/v1/entities/evaluator", {"id": "eval.neri", "payload": {"name": "N", "ties": []}}
        )
        before = len(list(api.world.engine.events()))

        def broken(_ctx: object) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(handlers.evaluator, "declare_ties", broken)
        answer = api.fire("operator", "evaluator", "eval.neri", "declare_ties", {"ties": ["00743110157"]})
        assert (answer.status_code, answer.json()["error"]) == (500, "HandlerError")
        assert len(list(api.world.engine.events())) == before

    def test_database_unavailable(self, api: Api) -> None:
        """A real database that does not answer: 503, typed, never a stack trace."""
        api.world.engine.db = make_engine(
            "postgresql+psycopg://postgres@127.0.0.1:1/test", connect_args={"connect_timeout": 2}
        )
        answer = api.fire("operator", "call", CALL_ID, "open")
        assert (answer.status_code, answer.json()["error"]) == (503, "DatabaseUnavailable")


class TestEventFeed:
    def test_pages_in_order(self, api: Api) -> None:
        phase_one(api)
        seen: list[int] = []
        after = 0
        while True:
            page = api.get("system", "/v1/events", after=after, limit=3).json()
            if not page["events"]:
                assert page["last_seq"] == after
                break
            seen += [e["seq"] for e in page["events"]]
            after = page["last_seq"]
        assert seen == list(range(1, len(seen) + 1))
        assert seen[-1] == max(e.seq for e in api.world.engine.events())

    def test_long_poll_answers_when_an_event_commits(self, api: Api) -> None:
        """``wait``: the call returns as soon as another writer commits, not after the whole wait."""
        api.post(
            "operator", "/v1/entities/evaluator", {"id": "eval.neri", "payload": {"name": "Neri", "ties": []}}
        )
        head = api.get("system", "/v1/events", after=0).json()["last_seq"]

        def later() -> None:
            time.sleep(0.5)
            api.world.engine.fire(
                "evaluator",
                "eval.neri",
                "declare_ties",
                actor="eval.neri",
                role="evaluator",
                payload={"ties": []},
            )

        threading.Thread(target=later).start()
        started = time.monotonic()
        page = api.get("system", "/v1/events", after=head, wait=10).json()
        assert [e["trigger"] for e in page["events"]] == ["declare_ties"]
        assert time.monotonic() - started < 5
