"""Issue 18.4: a refusal names each partner that breaks a rule (tax code, name, rule), on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import World, applicants, partners
from tests.workflow.test_phase2 import Phase2, unlead
from workflow.errors import GuardRefused


@pytest.fixture(name="world")
def _world_on_each_backend(contract_world: World) -> World:
    """Every test here runs on SQLite and on PostgreSQL."""
    return contract_world


@pytest.fixture(name="p2")
def _p2(world: World, request: pytest.FixtureRequest) -> Phase2:
    return Phase2(world, request.param)


def refused(action: Any) -> GuardRefused:
    with pytest.raises(GuardRefused) as caught:
        action()
    return caught.value


def culprits(error: GuardRefused) -> list[tuple[str, str, str]]:
    return [(c["tax_code"], c["name"], c["rule"]) for c in error.data["culprits"]]


class TestPhaseOne:
    def _submit(self, world: World, members: list[dict[str, Any]]) -> GuardRefused:
        pid = world.engine.create(
            "partnership",
            actor="capofila.alfa",
            role="applicant",
            payload={"name": "F", "agreement": "Accordo di progetto", "partners": members},
        ).entity_id
        draft = world.draft(partnership=pid)
        return refused(
            lambda: world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
        )

    def test_companies_outside_lombardy_are_named(self, world: World) -> None:
        """ "At least 10 companies with a seat (sede) in Lombardy": the two without one are named."""
        world.open_call()
        outside = partners(2, start=40, lombardy=False)
        for member in outside:
            member["capofila"] = False
        error = self._submit(world, partners(8) + outside)
        assert error.guard == "composition"
        assert error.reason == (
            "8 companies with a seat in Lombardy, at least 10 required: "
            f"Impresa 40 S.r.l. ({outside[0]['tax_code']}), Impresa 41 S.r.l. ({outside[1]['tax_code']})"
        )
        assert culprits(error) == [
            (outside[0]["tax_code"], "Impresa 40 S.r.l.", "min_companies_in_lombardy"),
            (outside[1]["tax_code"], "Impresa 41 S.r.l.", "min_companies_in_lombardy"),
        ]
        assert (error.data["companies_in_lombardy"], error.data["required"]) == (8, 10)

    def test_every_broken_rule_at_once(self, world: World) -> None:
        """Other subjects "dovranno esplicitare nell'accordo i propri impegni e il proprio ruolo":
        a university without a role and a kind the call does not allow are named in one refusal."""
        world.open_call()
        university = {
            "tax_code": "80012000826",
            "name": "Università",
            "kind": "university",
            "lombardy_seat": True,
        }
        other = {
            "tax_code": "00090010158",
            "name": "Ente X",
            "kind": "other",
            "lombardy_seat": True,
            "role": "r",
        }
        error = self._submit(world, [*partners(10), university, other])
        assert error.reason == (
            "partner kinds not allowed (other): Ente X (00090010158); "
            "partners without a declared role: Università (80012000826)"
        )
        assert [v["rule"] for v in error.data["violations"]] == [
            "other_kinds_allowed",
            "role_required_for_other_kinds",
        ]

    def test_the_message_names_ten_the_data_all(self, world: World) -> None:
        """A long list stays readable: ten names and "and N more"; the refusal's data has every one."""
        world.open_call()
        outside = partners(12, start=60, lombardy=False)
        for member in outside:
            member["capofila"] = False
        error = self._submit(world, partners(1) + outside)
        assert error.reason.endswith(f"Impresa 69 S.r.l. ({outside[9]['tax_code']}), and 2 more")
        assert len(error.data["culprits"]) == 12


class TestPhaseTwo:
    @pytest.mark.parametrize("p2", ["rafforzamento-filiere-2024"], indirect=True)
    def test_sme_majority_and_the_large_company(self, p2: Phase2) -> None:
        """Rafforzamento 2024: "majority SMEs ... only one large company, and only if it carries out the
        experimental development": the non-SMEs, and each large company, are named under each rule."""
        team = unlead(
            [
                *applicants(2, main="200000.00"),
                *applicants(1, start=560, size="midcap", main="200000.00"),
                *applicants(2, start=570, size="large", main="100000.00", experimental="100000.00"),
            ]
        )
        error = p2.refused(team)
        midcap, large_a, large_b = team[2], team[3], team[4]
        assert error.guard == "composition"
        assert [v["rule"] for v in error.data["violations"]] == [
            "sme_majority",
            "max_large",
            "large_only_experimental",
        ]
        assert culprits(error) == [
            (midcap["tax_code"], midcap["name"], "sme_majority"),
            (large_a["tax_code"], large_a["name"], "sme_majority"),
            (large_b["tax_code"], large_b["name"], "sme_majority"),
            (large_a["tax_code"], large_a["name"], "max_large"),
            (large_b["tax_code"], large_b["name"], "max_large"),
            (large_a["tax_code"], large_a["name"], "large_only_experimental"),
            (large_b["tax_code"], large_b["name"], "large_only_experimental"),
        ]
        assert f"2 large companies, at most 1: {large_a['name']} ({large_a['tax_code']})" in error.reason

    @pytest.mark.parametrize("p2", ["rafforzamento-filiere-2025"], indirect=True)
    def test_every_partner_under_its_minimum(self, p2: Phase2) -> None:
        """Rafforzamento 2025: "minimum spend per partner: SME ≥ 100,000; MidCap ≥ 150,000": both
        partners below their minimum are named, with what each spends."""
        team = unlead(
            [
                *applicants(1, start=3000, main="200000.00"),
                *applicants(1, start=3001, main="99999.99"),
                *applicants(1, start=3002, size="midcap", main="149999.99"),
            ]
        )
        error = p2.refused(team)
        assert error.guard == "amounts"
        assert error.reason == (
            f"partner {team[1]['name']} ({team[1]['tax_code']}) (sme) spends 99.999,99 €, "
            "at least 100.000,00 € required; "
            f"partner {team[2]['name']} ({team[2]['tax_code']}) (midcap) spends 149.999,99 €, "
            "at least 150.000,00 € required"
        )
        assert [(v["rule"], v["spent"], v["min"]) for v in error.data["violations"]] == [
            ("partner_min", "99999.99", "100000.00"),
            ("partner_min", "149999.99", "150000.00"),
        ]
        assert [c[0] for c in culprits(error)] == [team[1]["tax_code"], team[2]["tax_code"]]

    @pytest.mark.parametrize("p2", ["ricerca-e-innova-2023"], indirect=True)
    def test_duration_and_amount_together(self, p2: Phase2) -> None:
        """Ricerca e Innova: "max 18 months from the concession; eligible spending ≥ EUR 80,000": a
        19-month project of 79,999.99 is refused for both, with the figures in the data."""
        error = p2.refused(applicants(1, start=3100, main="79999.99"), duration_months=19)
        assert error.reason == (
            "project total 79.999,99 € is below the minimum 80.000,00 €; duration 19 months, at most 18"
        )
        by_rule = {v["rule"]: v for v in error.data["violations"]}
        assert (by_rule["project_min"]["total"], by_rule["project_min"]["min"]) == ("79999.99", "80000.00")
        assert (by_rule["max_duration_months"]["duration_months"], by_rule["max_duration_months"]["max"]) == (
            19,
            18,
        )
        assert error.data["culprits"] == []
