"""Money per partner (issue 18.9): the award split per partner to the cent, and partial revocations.

The split: each partner's share of the grant (of the loan) is in proportion to the grant (loan)
its own admitted costs earn at its size's rates; every share is rounded down to the cent and
the cents left go one each to the largest fractions, ties to the capofila, then in order.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from handlers.aid import split
from tests.factories import World, applicants
from tests.workflow.test_cli import run
from tests.workflow.test_phase2 import Phase2, unlead, valid_partners
from workflow.http import keys
from workflow.http.api import create_app


@pytest.fixture(name="world")
def _world_on_each_backend(contract_world: World) -> World:
    """Every test here runs on SQLite and on PostgreSQL."""
    return contract_world


def _adds_up(award: dict[str, Any]) -> None:
    """Grant + loan = aid per partner, and the partners' figures add up to the award's."""
    partners = award["partners"]
    for p in partners:
        assert Decimal(p["grant"]) + Decimal(p["loan"]) == Decimal(p["aid"])
    for field, total in (("grant", "grant"), ("loan", "loan"), ("aid", "base")):
        assert sum(Decimal(p[field]) for p in partners) == Decimal(award[total])
    assert Decimal(award["grant"]) + Decimal(award["loan"]) == Decimal(award["base"])


def test_largest_remainder_ties_to_the_lead() -> None:
    """100.00 in three equal parts: 33.33 each and the cent left to the capofila (third here)."""
    assert split(Decimal("100.00"), [Decimal(1)] * 3, lead=2) == [
        Decimal("33.33"),
        Decimal("33.33"),
        Decimal("33.34"),
    ]
    assert split(Decimal("0.00"), [Decimal(1), Decimal(2)]) == [Decimal("0.00"), Decimal("0.00")]


def test_bando_2022_grant_per_partner(world: World) -> None:
    """Bando Filiere 2022: "50 % of admitted costs for SMEs, 15 % for the (optional) large company".

    Nine SMEs spending 20,000.01 each earn 10,000.005 each and a large company spending 30,000.00
    earns 4,500.00: the grant is 94,500.05 (half-up). Rounded down, the shares leave five cents;
    they go to the five largest fractions, all equal among the SMEs: the capofila (the fourth
    partner) first, then in order.
    """
    p2 = Phase2(world, "bando-filiere-2022")
    team = applicants(9, start=6500, main="20000.01")
    team.append(applicants(1, start=6520, size="large", main="30000.00")[0])
    for i, partner in enumerate(team):
        partner["capofila"] = i == 3
    application = p2.submit(team)
    p2.evaluate(application, 80)
    p2.close()
    award = p2.fund(application).payload["effects"]["award"]
    assert award["grant"] == "94500.05"
    assert [p["grant"] for p in award["partners"]] == [
        "10000.01",
        "10000.01",
        "10000.01",
        "10000.01",
        "10000.01",
        "10000.00",
        "10000.00",
        "10000.00",
        "10000.00",
        "4500.00",
    ]
    _adds_up(award)
    assert p2.engine.get("application", application).data["award"]["partners"] == award["partners"]


class TestPartialRevocation:
    """Rafforzamento filiere 2024: "subsidised loan covering 60 %" + "grant 10 %" for SMEs."""

    def _funded(self, world: World) -> tuple[Phase2, str]:
        p2 = Phase2(world, "rafforzamento-filiere-2024")
        application = p2.submit(unlead(valid_partners("rafforzamento-filiere-2024")))
        p2.evaluate(application, 80)
        p2.fund(application)
        return p2, application

    def test_figures_add_up_per_partner(self, world: World) -> None:
        """A partial revocation leaves figures that add up, per partner and in total: partially_revoked.

        Award 442,500.00 (grant 82,500.00, loan 360,000.00); 100,000.00 revoked: 18,644.07 of
        grant (half-up) and 81,355.93 of loan, taken from each partner in proportion to what it
        holds; the loan's last cent is taken from the capofila (four equal fractions).
        """
        p2, application = self._funded(world)
        funded = p2.engine.get("application", application).data["award"]
        assert (funded["base"], funded["grant"], funded["loan"]) == ("442500.00", "82500.00", "360000.00")
        event = p2.engine.fire(
            "application",
            application,
            "revoke",
            actor="dir.verdi",
            role="director",
            payload={"reason": "spese non rendicontate", "amount": "100000.00"},
        )
        assert event.to_state == "partially_revoked"
        revocation = event.payload["effects"]["revocation"]
        assert (revocation["grant"], revocation["loan"], revocation["kept"]) == (
            "18644.07",
            "81355.93",
            "342500.00",
        )
        taken = revocation["partners"]
        assert [t["loan"] for t in taken] == ["20338.99", "20338.98", "20338.98", "20338.98", "0.00"]
        assert sum(Decimal(t["grant"]) for t in taken) == Decimal("18644.07")
        kept = p2.engine.get("application", application).data["award"]
        assert (kept["base"], kept["grant"], kept["loan"]) == ("342500.00", "63855.93", "278644.07")
        _adds_up(kept)
        assert sum(Decimal(r["principal"]) for r in kept["instalments"]) == Decimal("278644.07")
        assert p2.ledger()[1] == Decimal("342500.00")

    def test_then_total(self, world: World) -> None:
        """A second, total revocation takes what was kept: revoked, nothing reserved, nothing held."""
        p2, application = self._funded(world)
        for payload in ({"reason": "prima", "amount": "0.01"}, {"reason": "decadenza"}):
            event = p2.engine.fire(
                "application", application, "revoke", actor="dir.verdi", role="director", payload=payload
            )
        assert event.to_state == "revoked"
        award = p2.engine.get("application", application).data["award"]
        _adds_up(award)
        assert award["base"] == "0.00"
        assert p2.ledger()[1] == Decimal("0.00")

    def test_shown_by_the_cli_and_the_api(self, world: World) -> None:
        """`filiere show` and the HTTP API show each partner's grant, loan and aid."""
        p2, application = self._funded(world)
        held = p2.engine.get("application", application).data["award"]["partners"]
        env = {"PGOPTIONS": world.connect_args["options"]} if world.connect_args else {}
        url = world.url or f"sqlite:///{world.path}"
        shown = run("--db", url, "show", "application", application, "--json", env=env)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["data"]["award"]["partners"] == held
        text = run("--db", url, "show", "application", application, env=env).stdout
        assert f'"tax_code": "{held[0]["tax_code"]}"' in text
        key = keys.create(world.engine.db, actor="corte.conti", role="auditor", now=world.clock.now())[1]
        with TestClient(create_app(world.engine)) as client:
            answer = client.get(
                f"/v1/entities/application/{application}", headers={"Authorization": f"Bearer {key}"}
            )
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["award"]["partners"] == held
