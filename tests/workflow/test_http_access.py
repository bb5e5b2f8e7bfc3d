"""Who reads what over HTTP: two competing applicants, each sees its own and what is public.

Run through the ASGI client on both backends. Competitors' partnerships (their
partners' tax codes), proposals, applications, evaluators and draft decrees
answer 404 exactly as an id that does not exist; the event feed and the
histories are filtered the same way, and a follower paging with ``after=``
misses none of its own events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import CALL_ID, World, applicants, measure_config
from workflow.http import access, keys
from workflow.http.api import create_app

ALFA, BETA = "capofila.alfa", "capofila.beta"
SEES_ALL = ("operator", "evaluator", "director", "system", "auditor")


class Clients:
    """Keys for two applicants and every other role, on one app."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.client = TestClient(create_app(world.engine))
        now = world.clock.now()
        db = world.engine.db
        self.keys = {
            ALFA: keys.create(db, actor=ALFA, role="applicant", now=now)[1],
            BETA: keys.create(db, actor=BETA, role="applicant", now=now)[1],
            **{role: keys.create(db, actor=f"x.{role}", role=role, now=now)[1] for role in SEES_ALL},
        }

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.keys[who]}"})

    def post(self, who: str, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {self.keys[who]}"})

    def feed(self, who: str, after: int = 0, limit: int = 1) -> tuple[list[dict[str, Any]], int]:
        """Everything the feed gives ``who`` from ``after``, paging ``limit`` at a time."""
        seen: list[dict[str, Any]] = []
        while True:
            page = self.get(who, "/v1/events", after=after, limit=limit).json()
            assert page["last_seq"] >= after
            seen += page["events"]
            if not page["events"] and page["last_seq"] == after:
                return seen, after
            after = page["last_seq"]


def scenario(world: World) -> dict[str, str]:
    """Alfa's proposal listed by an approved decree, Beta's a draft; an application each; a draft decree."""
    world.open_call()
    engine = world.engine
    ids = {"beta_partnership": world.partnership(BETA, start=30)}
    ids["beta_proposal"] = world.draft(BETA, partnership=ids["beta_partnership"])
    engine.create("measure", actor="op.rossi", role="operator", payload=measure_config())
    world.at(2022, 9, 5, 12)
    engine.fire("measure", "FILIERE-2022", "open", actor="system", role="system")
    for name, owner, start in (("alfa", ALFA, 500), ("beta", BETA, 600)):
        ids[f"{name}_application"] = engine.create(
            "application",
            actor=owner,
            role="applicant",
            payload={
                "measure_id": "FILIERE-2022",
                "title": "Progetto",
                "duration_months": 12,
                "partners": applicants(10, start=start, main="20000.00"),
            },
        ).entity_id
    world.at(2022, 9, 10, 11)
    ids["alfa_proposal"] = world.evaluated(ALFA)
    ids["alfa_partnership"] = engine.get("proposal", ids["alfa_proposal"]).data["partnership_id"]
    world.at(2022, 10, 14, 12)
    ids["decree"] = world.decree([ids["alfa_proposal"]])
    ids["draft_decree"] = engine.create(
        "decree",
        actor="dir.verdi",
        role="director",
        payload={"call_id": CALL_ID, "act": "d.d.u.o. n. 2", "proposal_ids": [ids["alfa_proposal"]]},
    ).entity_id
    return ids


@pytest.fixture(name="clients")
def _clients(contract_world: World) -> Iterator[Clients]:
    contract_world.at(2022, 2, 25, 10)
    clients = Clients(contract_world)
    with clients.client:
        yield clients


def visible_to(world: World, actor: str) -> list[int]:
    """The seqs an applicant may read, worked out from the log independently of the API."""
    owners: dict[tuple[str, str], Any] = {}
    seqs = []
    for event in world.engine.events():
        key = (event.entity_kind, event.entity_id)
        if key not in owners:
            owners[key] = world.engine.get(*key).data.get("owner")
        public = event.entity_kind in ("call", "measure") or (
            event.entity_kind == "decree" and event.to_state == "approved"
        )
        if public or owners[key] == actor:
            seqs.append(event.seq)
    return seqs


def test_an_applicant_reads_its_own_and_what_is_public(clients: Clients) -> None:
    ids = scenario(clients.world)
    own = {
        "partnership": ids["beta_partnership"],
        "proposal": ids["beta_proposal"],
        "application": ids["beta_application"],
    }
    for kind, entity_id in own.items():
        assert clients.get(BETA, f"/v1/entities/{kind}/{entity_id}").status_code == 200
        assert [p["id"] for p in clients.get(BETA, f"/v1/entities/{kind}").json()["items"]] == [entity_id]
        history = clients.get(BETA, f"/v1/entities/{kind}/{entity_id}/history").json()["items"]
        assert [e["seq"] for e in history] == [e.seq for e in clients.world.engine.history(kind, entity_id)]
    under_call = clients.get(BETA, "/v1/entities/proposal", parent_id=CALL_ID).json()["items"]
    assert [p["id"] for p in under_call] == [ids["beta_proposal"]]
    for path in (
        f"/v1/entities/call/{CALL_ID}",
        "/v1/entities/measure/FILIERE-2022",
        f"/v1/entities/decree/{ids['decree']}",
        f"/v1/calls/{CALL_ID}/list",
        "/v1/measures/FILIERE-2022/budget",
    ):
        assert clients.get(BETA, path).status_code == 200, path
    decree_history = clients.get(BETA, f"/v1/entities/decree/{ids['decree']}/history").json()["items"]
    assert [e["trigger"] for e in decree_history] == ["approve"]  # its draft stayed internal
    assert [d["id"] for d in clients.get(BETA, "/v1/entities/decree").json()["items"]] == [ids["decree"]]
    assert clients.get(BETA, "/v1/entities/evaluator").json()["items"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/v1/entities/partnership/{alfa_partnership}",
        "/v1/entities/partnership/{alfa_partnership}/history",
        "/v1/entities/proposal/{alfa_proposal}",
        "/v1/entities/proposal/{alfa_proposal}/history",
        "/v1/entities/application/{alfa_application}",
        "/v1/entities/decree/{draft_decree}",
        "/v1/entities/decree/{draft_decree}/history",
        "/v1/entities/evaluator/eval.bianchi",
    ],
)
def test_a_competitor_entity_is_not_found(clients: Clients, path: str) -> None:
    """404 exactly as for an id that does not exist: existence is not leaked."""
    ids = scenario(clients.world)
    concrete = path.format(**ids)
    hidden = clients.get(BETA, concrete)
    entity_id = concrete.split("/")[4]
    missing = clients.get(BETA, concrete.replace(entity_id, "NOPE-1"))
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json() == json.loads(missing.text.replace("NOPE-1", entity_id))
    assert clients.get("auditor", concrete).status_code == 200  # it does exist


def test_firing_on_a_competitor_entity_is_not_found_and_writes_nothing(clients: Clients) -> None:
    ids = scenario(clients.world)
    before = [e.seq for e in clients.world.engine.events()]
    for kind, entity_id, trigger in (
        ("proposal", ids["alfa_proposal"], "withdraw"),
        ("partnership", ids["alfa_partnership"], "dissolve"),
        ("application", ids["alfa_application"], "withdraw"),
    ):
        answer = clients.post(BETA, f"/v1/entities/{kind}/{entity_id}/{trigger}", {"payload": {}})
        assert (answer.status_code, answer.json()["error"]) == (404, "NotFound")
    assert [e.seq for e in clients.world.engine.events()] == before
    own = clients.post(BETA, f"/v1/entities/proposal/{ids['beta_proposal']}/withdraw", {"payload": {}})
    assert own.status_code == 200, own.json()


@pytest.mark.parametrize("role", SEES_ALL)
def test_other_roles_read_everything(clients: Clients, role: str) -> None:
    ids = scenario(clients.world)
    assert clients.get(role, f"/v1/entities/partnership/{ids['alfa_partnership']}").status_code == 200
    assert len(clients.get(role, "/v1/entities/partnership").json()["items"]) == 2
    seen, _ = clients.feed(role, limit=50)
    assert [e["seq"] for e in seen] == [e.seq for e in clients.world.engine.events()]


def test_the_feed_is_filtered_and_misses_none_of_ones_own(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paged one event at a time, and with a scan window of 3: exactly the readable events, in order."""
    ids = scenario(clients.world)
    alfa_partners = clients.world.engine.get("partnership", ids["alfa_partnership"]).data["partners"]
    for window in (access.SCAN, 3):
        monkeypatch.setattr(access, "SCAN", window)
        for who in (ALFA, BETA):
            seen, last = clients.feed(who)
            assert [e["seq"] for e in seen] == visible_to(clients.world, who)
            assert last == max(e.seq for e in clients.world.engine.events())
    seen, last = clients.feed(BETA, limit=1000)
    text = json.dumps(seen)
    assert not any(p["tax_code"] in text for p in alfa_partners)  # competitors' partners stay hidden
    assert ids["alfa_partnership"] not in text
    # Others act, then Beta: a follower resuming from its last_seq gets Beta's event, nothing else.
    engine = clients.world.engine
    engine.fire("partnership", ids["alfa_partnership"], "dissolve", actor=ALFA, role="applicant")
    own = engine.fire("proposal", ids["beta_proposal"], "withdraw", actor=BETA, role="applicant")
    engine.fire("proposal", ids["alfa_proposal"], "withdraw", actor=ALFA, role="applicant")
    more, _ = clients.feed(BETA, after=last)
    assert [e["seq"] for e in more] == [own.seq]


def test_long_poll_skips_what_it_may_not_read(clients: Clients) -> None:
    """With ``wait``, events the key may not read are passed over and its own one is returned."""
    ids = scenario(clients.world)
    engine = clients.world.engine
    head = max(e.seq for e in engine.events())
    engine.fire("partnership", ids["alfa_partnership"], "dissolve", actor=ALFA, role="applicant")
    own = engine.fire("proposal", ids["beta_proposal"], "withdraw", actor=BETA, role="applicant")
    page = clients.get(BETA, "/v1/events", after=head, wait=5).json()
    assert ([e["seq"] for e in page["events"]], page["last_seq"]) == ([own.seq], own.seq)
