"""Issue 18.8: what a measure may require (documents, stamp duty, linked partners, credit scoring, dates)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import World, applicants
from tests.workflow.test_phase2 import Phase2, fix_check_digits, unlead, valid_partners
from workflow.errors import GuardRefused, InvalidInput


@pytest.fixture(name="world")
def _world_on_each_backend(contract_world: World) -> World:
    """Every test here runs on SQLite and on PostgreSQL."""
    return contract_world


@pytest.fixture(name="p2")
def _p2(world: World, request: pytest.FixtureRequest) -> Phase2:
    return Phase2(world, request.param)


def named(error: GuardRefused) -> list[tuple[str, str]]:
    return [(c["tax_code"], c["rule"]) for c in error.data["culprits"]]


def team_2025(start: int) -> list[dict[str, Any]]:
    return unlead(applicants(3, start=start, main="100000.00"))


@pytest.mark.parametrize("p2", ["rafforzamento-filiere-2024"], indirect=True)
class TestRafforzamento2024:
    def test_no_more_than_two_linked_partners(self, p2: Phase2) -> None:
        """Rafforzamento 2024: "of the (at least) five partners no more than two may be linked by control
        or association (controllo e collegamento)": two of one group pass, three are refused by name."""
        two = valid_partners("rafforzamento-filiere-2024")
        for partner in two[:2]:
            partner["linked_group"] = "Gruppo Alfa"
        p2.submit(two)
        three = valid_partners("rafforzamento-filiere-2024")
        for partner in three:  # other companies: the first two are in an application already
            partner["tax_code"] = partner["tax_code"][:3] + "7" + partner["tax_code"][4:]
        three = fix_check_digits(three)
        for partner in three[:3]:
            partner["linked_group"] = "Gruppo Alfa"
        error = p2.refused(three)
        assert error.guard == "composition"
        assert error.reason.startswith(
            "3 partners linked by control or association (group 'Gruppo Alfa'), at most 2: "
        )
        assert named(error) == [(p["tax_code"], "max_linked") for p in three[:3]]

    def test_the_accordo_di_filiera_signed_by_every_partner(self, p2: Phase2) -> None:
        """Rafforzamento 2024: the partners are "bound by an Accordo di filiera": without it the
        application is refused; signed by four of five, the fifth is named."""
        team = valid_partners("rafforzamento-filiere-2024")
        missing = p2.refused(team, documents=[])
        assert missing.guard == "required_documents"
        assert missing.reason == "missing document: Accordo di filiera (accordo_di_filiera)"
        signers = [p["tax_code"] for p in team[:4]]
        error = p2.refused(team, documents=[{"name": "accordo_di_filiera", "signed_by": signers}])
        assert error.reason == f"Accordo di filiera not signed by: {team[4]['name']} ({team[4]['tax_code']})"
        assert named(error) == [(team[4]["tax_code"], "signed_by_every_partner")]


@pytest.mark.parametrize("p2", ["rafforzamento-filiere-2025"], indirect=True)
class TestRafforzamento2025:
    def test_credit_scoring_classes_one_to_seven(self, p2: Phase2) -> None:
        """Rafforzamento 2025: partners need a "credit scoring class 1 to 7": class 7 passes; class 8
        and an undeclared class are refused, each partner named."""
        ok = team_2025(7000)
        ok[2]["credit_scoring"] = 7
        p2.submit(ok)
        bad = team_2025(7010)
        bad[1]["credit_scoring"] = 8
        bad[2]["credit_scoring"] = None
        error = p2.refused(bad)
        assert error.guard == "composition"
        assert error.reason.startswith("credit scoring class not declared or not in 1-7: ")
        assert named(error) == [
            (bad[1]["tax_code"], "credit_scoring"),
            (bad[2]["tax_code"], "credit_scoring"),
        ]

    def test_the_stamp_duty_is_declared_once(self, p2: Phase2) -> None:
        """D.P.R. 642/1972: applications "are subject to EUR 16.00 ... paid with a stamp whose serial
        number is declared and not reused, or virtually": missing is refused, a serial used by another
        application of the measure is refused naming it, a virtual payment reference is accepted."""
        missing = p2.refused(team_2025(7100), stamp_duty=None)
        assert (missing.guard, missing.data["amount"]) == ("stamp_duty", "16.00")
        first = p2.submit(team_2025(7110), stamp_duty={"serial": "01234567890123"})
        reused = p2.refused(team_2025(7120), stamp_duty={"serial": "01234567890123"})
        assert reused.guard == "stamp_duty"
        assert reused.reason == f"stamp duty serial 01234567890123 already used by application {first}"
        virtual = p2.submit(team_2025(7130), stamp_duty={"payment_reference": "RF18000000000012345"})
        assert p2.engine.get("application", virtual).state == "submitted"

    def test_a_serial_has_fourteen_digits(self, p2: Phase2) -> None:
        """A stamp serial is 14 digits: 13 is invalid input, and no draft is stored."""
        before = len(list(p2.engine.events()))
        with pytest.raises(InvalidInput):
            p2.draft(team_2025(7200), stamp_duty={"serial": "0123456789012"})
        assert len(list(p2.engine.events())) == before

    def test_dates_within_the_duration_and_the_latest_end(self, p2: Phase2) -> None:
        """The project's dates meet the measure's duration (24 months [A]) and latest end (31/12/2029
        [A]): one day more is refused, each time saying the limit; without dates it is refused."""
        p2.submit(team_2025(7300), starts_on="2025-05-01", ends_on="2027-05-01")
        long = p2.refused(team_2025(7310), starts_on="2025-05-01", ends_on="2027-05-02")
        assert long.guard == "project_dates"
        assert "more than 24 months after its start (2025-05-01): at the latest 2027-05-01" in long.reason
        late = p2.refused(team_2025(7320), starts_on="2028-02-01", ends_on="2030-01-01")
        assert late.reason == "the project ends on 2030-01-01, after the measure's latest end 2029-12-31"
        none = p2.refused(team_2025(7330), starts_on=None, ends_on=None)
        assert none.reason == "the project's start and end dates are required"


@pytest.mark.parametrize("p2", ["ricerca-e-innova-2023"], indirect=True)
class TestRicercaEInnova:
    def test_started_after_the_application(self, p2: Phase2) -> None:
        """Ricerca e Innova: projects "started after the application": a start the day before the
        application (25/01/2023) is refused."""
        error = p2.refused(
            applicants(1, start=7400, main="80000.00"), starts_on="2023-01-24", ends_on="2024-01-24"
        )
        assert error.reason == "the project starts on 2023-01-24, before the application (2023-01-25)"

    def test_eighteen_months_from_the_concession_checked_at_funding(self, p2: Phase2) -> None:
        """Ricerca e Innova: "max 18 months from the concession": dates that fit at submission (18 months
        from the start) are checked again at funding; a project ending more than 18 months after the
        concession of 27/03/2023 is refused then, and stays admitted."""
        application = p2.submit(
            applicants(1, start=7500, main="80000.00"), starts_on="2023-06-01", ends_on="2024-12-01"
        )
        p2.evaluate(application, 70)
        p2.world.at(2023, 3, 27, 10)
        with pytest.raises(GuardRefused) as caught:
            p2.fund(application)
        assert caught.value.guard == "project_dates"
        assert caught.value.reason == (
            "the project ends on 2024-12-01, more than 18 months after the concession (2023-03-27): "
            "at the latest 2024-09-27"
        )
        assert p2.engine.get("application", application).state == "admitted"


class TestBandoFiliere2022:
    def test_no_swot_for_a_recognised_filiera(self, world: World) -> None:
        """Bando Filiere 2022: "investments ... (with a SWOT analysis only for filiere not recognised
        under DGR 5899/2022)": written as a document waived for a recognised filiera, an application
        citing a listed proposal needs none; one citing nothing is refused without it."""
        from tests.factories import measure_config

        world.open_call()
        world.at(2022, 9, 1, 10)
        listed = world.evaluated("cap.swot")
        world.decree([listed])
        swot = {"name": "swot", "label": "Analisi SWOT", "unless_recognised": True}
        requirements = {**measure_config()["requirements"], "documents": [swot]}
        p2 = Phase2(world, "bando-filiere-2022", code="FILIERE-2022-SWOT", requirements=requirements)
        cited = p2.submit(applicants(10, start=7600, main="20000.00"), proposal_id=listed, documents=[])
        assert p2.engine.get("application", cited).state == "submitted"
        error = p2.refused(applicants(10, start=7700, main="20000.00"), documents=[])
        assert (error.guard, error.reason) == ("required_documents", "missing document: Analisi SWOT (swot)")
        with_it = p2.submit(applicants(10, start=7800, main="20000.00"), documents=[{"name": "swot"}])
        assert p2.engine.get("application", with_it).state == "submitted"
