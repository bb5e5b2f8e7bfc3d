"""Phase 2 under the shipped measures: rules at their boundaries, order, budget, coupling."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from handlers.measure import queue
from handlers.money import euro
from handlers.requirements import add_months
from tests.factories import CALL_ID, ROME, World, applicants, measure_config, rome
from workflow.config import example_measure_path, read_measure_file
from workflow.engine import Engine
from workflow.errors import ConfigurationError, GuardRefused, TransitionNotAllowed

OPENING = {
    "bando-filiere-2022": (2022, 9, 5, 12),
    "rafforzamento-filiere-2024": (2024, 3, 28, 16),
    "rafforzamento-filiere-2025": (2025, 4, 16, 16),
    "ricerca-e-innova-2023": (2023, 1, 25, 15),
}


def valid_partners(name: str) -> list[dict[str, Any]]:
    """A partnership that meets every rule of the measure, its total at the project minimum."""
    if name == "bando-filiere-2022":
        return applicants(10, main="20000.00")  # 200,000.00
    if name == "rafforzamento-filiere-2024":
        return unlead(
            [
                *applicants(3, main="150000.00"),
                *applicants(1, start=520, size="midcap", main="150000.00"),
                *applicants(1, start=530, size="large", main="0.00", experimental="150000.00"),
            ]
        )  # 750,000.00
    if name == "rafforzamento-filiere-2025":
        return applicants(3, main="100000.00")  # 300,000.00
    return applicants(1, main="80000.00")  # Ricerca e Innova: 80,000.00


def fix_check_digits(partners: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recompute the partite IVA's check digits after a test changed a digit."""
    from stdnum import luhn

    for partner in partners:
        partner["tax_code"] = partner["tax_code"][:10] + luhn.calc_check_digit(partner["tax_code"][:10])
    return partners


def unlead(partners: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for partner in partners[1:]:
        partner["capofila"] = False
    for partner in partners[:1]:
        partner["capofila"] = True
    return partners


def _evaluators(world: World) -> set[str]:
    return {e.entity_id for e in world.engine.events() if e.entity_kind == "evaluator"}


class Phase2:
    """Shortcuts around one open measure."""

    def __init__(self, world: World, name: str, **overrides: Any) -> None:
        self.world, self.engine = world, world.engine
        config = measure_config(name, **overrides)
        self.code = config["code"]
        self.engine.create("measure", actor="op.rossi", role="operator", payload=config)
        world.at(*OPENING[name])
        self.engine.fire("measure", self.code, "open", actor="system", role="system")
        self.owners = 0
        if "eval.p2" not in _evaluators(world):
            world.evaluator("eval.p2")

    def draft(self, partners: list[dict[str, Any]], **fields: Any) -> str:
        self.owners += 1
        payload = {
            "measure_id": self.code,
            "title": "Progetto",
            "duration_months": 12,
            "partners": partners,
            **self.declarations(partners, fields.get("duration_months", 12)),
            **fields,
        }
        return self.engine.create(
            "application", actor=f"app.{self.owners}", role="applicant", payload=payload
        ).entity_id

    def declarations(self, partners: list[dict[str, Any]], months: int) -> dict[str, Any]:
        """What the measure requires besides partners and amounts (issue 18.8), declared validly."""
        data = self.engine.get("measure", self.code).data
        needs, fields = data.get("requirements", {}), {}
        if data["composition"].get("credit_scoring_max"):
            for partner in partners:
                partner.setdefault("credit_scoring", 3)
        signers = [p["tax_code"] for p in partners]
        if needs.get("documents"):
            fields["documents"] = [{"name": d["name"], "signed_by": signers} for d in needs["documents"]]
        if needs.get("stamp_duty", {}).get("required"):
            fields["stamp_duty"] = {"serial": f"{self.owners:014d}"}
        if needs.get("dates", {}).get("required"):
            start = self.world.clock.now().astimezone(ROME).date() + timedelta(days=1)
            fields["starts_on"], fields["ends_on"] = start.isoformat(), add_months(start, months).isoformat()
        return fields

    def submit(self, partners: list[dict[str, Any]], **fields: Any) -> str:
        application = self.draft(partners, **fields)
        owner = self.engine.get("application", application).data["owner"]
        self.engine.fire("application", application, "submit", actor=owner, role="applicant")
        return application

    def refused(self, partners: list[dict[str, Any]], **fields: Any) -> GuardRefused:
        with pytest.raises(GuardRefused) as caught:
            self.submit(partners, **fields)
        return caught.value

    def evaluate(self, application: str, score: int) -> Any:
        criteria = self.engine.get("measure", self.code).data["evaluation"]["criteria"]
        scores, left = {}, score
        for criterion in criteria:  # fill criteria in order, respecting allowed values
            options = criterion.get("allowed") or list(range(criterion["max"] + 1))
            pick = max(v for v in options if v <= left)
            scores[criterion["name"]], left = pick, left - pick
        assert left == 0, "test score not reachable with allowed values"
        return self.engine.fire(
            "application",
            application,
            "evaluate",
            actor="eval.p2",
            role="evaluator",
            payload={"scores": scores},
        )

    def fund(self, application: str) -> Any:
        return self.engine.fire("application", application, "fund", actor="dir.verdi", role="director")

    def close(self) -> None:
        self.world.clock.advance(days=400)
        self.engine.fire("measure", self.code, "close", actor="system", role="system")

    def ledger(self) -> tuple[Decimal, Decimal]:
        data = self.engine.get("measure", self.code).data
        return Decimal(data["budget"]), Decimal(data["reserved"])


@pytest.fixture(name="world")
def _world_on_each_backend(contract_world: World) -> World:
    """These rules are part of the contract: every test here runs on SQLite and on PostgreSQL."""
    return contract_world


@pytest.fixture(name="p2")
def _p2(world: World, request: pytest.FixtureRequest) -> Phase2:
    return Phase2(world, getattr(request, "param", "bando-filiere-2022"))


ALL = list(OPENING)


class TestAmountBoundaries:
    @pytest.mark.parametrize("p2", ALL, indirect=True)
    def test_project_minimum(self, p2: Phase2) -> None:
        """At the project minimum: accepted; one cent below: refused, saying both amounts."""
        name = next(n for n in ALL if measure_config(n)["code"] == p2.code)
        assert p2.engine.get("application", p2.submit(valid_partners(name))).state == "submitted"
        below = valid_partners(name)
        for partner in below:  # other companies: a measure may allow a partner in one project only
            partner["tax_code"] = partner["tax_code"][:3] + "9" + partner["tax_code"][4:]
        below[0]["main"] = str(Decimal(below[0]["main"]) - Decimal("0.01"))
        error = p2.refused(fix_check_digits(below))
        assert error.guard == "amounts"
        assert "below the minimum" in error.reason

    @pytest.mark.parametrize(
        "p2", ["rafforzamento-filiere-2024", "rafforzamento-filiere-2025"], indirect=True
    )
    def test_project_maximum(self, p2: Phase2) -> None:
        """At 5,000,000.00: accepted; one cent above: refused."""
        at = applicants(5, main="1000000.00")
        p2.submit(unlead(at))
        above = applicants(5, start=800, main="1000000.00")
        above[4]["main"] = "1000000.01"
        error = p2.refused(above)
        assert "project total 5.000.000,01 € is above the maximum 5.000.000,00 €" in error.reason

    @pytest.mark.parametrize("p2", ["rafforzamento-filiere-2025"], indirect=True)
    @pytest.mark.parametrize(
        ("size", "least"), [("sme", "100000.00"), ("midcap", "150000.00"), ("large", "250000.00")]
    )
    def test_partner_minimum_by_size(self, p2: Phase2, size: str, least: str) -> None:
        """Each partner spends at least its size's minimum: at it accepted, a cent below refused."""
        kind = "experimental" if size == "large" else "main"

        def team(start: int, amount: str) -> list[dict[str, Any]]:
            others = applicants(2, start=start, main="150000.00")
            member = applicants(1, start=start + 5, size=size, main="0.00")[0]
            member[kind] = amount
            return unlead([*others, member])

        p2.submit(team(900, least))
        error = p2.refused(team(950, str(Decimal(least) - Decimal("0.01"))))
        assert error.guard == "amounts"
        assert error.reason.endswith(
            f"({size}) spends {euro(Decimal(least) - Decimal('0.01'))}, at least {euro(least)} required"
        )

    @pytest.mark.parametrize("p2", ["rafforzamento-filiere-2024"], indirect=True)
    def test_experimental_share(self, p2: Phase2) -> None:
        """Experimental development up to 50% of the total: at 50% accepted, a cent more refused."""

        def team(start: int, experimental: str) -> list[dict[str, Any]]:
            members = [
                *applicants(3, start=start, main="125000.00"),
                *applicants(1, start=start + 5, size="midcap", main="125000.00"),
            ]
            large = applicants(1, start=start + 9, size="large", main="0.00", experimental=experimental)
            return unlead([*members, *large])

        p2.submit(team(1000, "500000.00"))
        error = p2.refused(team(1100, "500000.01"))
        assert "exceeds 50% of the total" in error.reason

    @pytest.mark.parametrize("p2", ["rafforzamento-filiere-2025"], indirect=True)
    def test_experimental_cap(self, world: World, p2: Phase2) -> None:
        """The experimental cap binds on its own when the share allows more (cap lowered for the test)."""
        low_cap = Phase2(
            world,
            "rafforzamento-filiere-2025",
            code="FILIERE-2025-LOWCAP",
            amounts={
                **measure_config("rafforzamento-filiere-2025")["amounts"],
                "experimental_cap": "150000.00",
            },
        )
        team = unlead(
            [
                *applicants(2, start=1200, main="150000.00"),
                *applicants(1, start=1205, size="large", main="0.00", experimental="250000.00"),
            ]
        )
        error = low_cap.refused(team)
        assert "exceeds the cap 150.000,00 €" in error.reason

    @pytest.mark.parametrize("p2", ALL, indirect=True)
    def test_duration(self, p2: Phase2) -> None:
        """The measure's longest duration is accepted; one month more is refused."""
        name = next(n for n in ALL if measure_config(n)["code"] == p2.code)
        most = measure_config(name)["amounts"]["max_duration_months"]
        p2.submit(valid_partners(name), duration_months=most)
        longer = fix_check_digits(
            [dict(p, tax_code=p["tax_code"][:3] + "8" + p["tax_code"][4:]) for p in valid_partners(name)]
        )
        error = p2.refused(longer, duration_months=most + 1)
        assert error.reason == f"duration {most + 1} months, at most {most}"

    @pytest.mark.parametrize("p2", ["ricerca-e-innova-2023"], indirect=True)
    def test_pre_amortisation_and_variants(self, p2: Phase2) -> None:
        """Pre-amortisation up to 30 months; only the measure's variants exist."""
        ok = p2.submit(
            applicants(1, start=1400, main="80000.00"), pre_amortisation_months=30, variant="green"
        )
        assert p2.engine.get("application", ok).data["aid"]["grant"] == "32000.00"
        assert (
            "pre-amortisation of 31 months exceeds 30"
            in p2.refused(applicants(1, start=1410, main="80000.00"), pre_amortisation_months=31).reason
        )
        assert (
            "unknown variant 'golden'"
            in p2.refused(applicants(1, start=1420, main="80000.00"), variant="golden").reason
        )


class TestComposition:
    @pytest.mark.parametrize(
        ("p2", "team", "reason"),
        [
            (
                "bando-filiere-2022",
                lambda: applicants(9, main="30000.00"),
                "9 partners, at least 10 required",
            ),
            (
                "rafforzamento-filiere-2024",
                lambda: [
                    *applicants(2, main="200000.00"),
                    *applicants(3, start=560, size="midcap", main="200000.00"),
                ],
                "2 SMEs of 5 companies: not a majority",
            ),
            (
                "rafforzamento-filiere-2024",
                lambda: [
                    *applicants(3, main="200000.00"),
                    *applicants(2, start=570, size="large", main="0.00", experimental="100000.00"),
                ],
                "2 large companies, at most 1",
            ),
            (
                "rafforzamento-filiere-2024",
                lambda: [
                    *applicants(4, main="150000.00"),
                    *applicants(1, start=580, size="large", main="150000.00"),
                ],
                "a large company may only carry out experimental development",
            ),
            (
                "rafforzamento-filiere-2025",
                lambda: applicants(3, size="midcap", main="150000.00"),
                "0 SMEs, at least 1 required",
            ),
            (
                "ricerca-e-innova-2023",
                lambda: applicants(1, size="large", main="100000.00"),
                "0 SMEs, at least 1 required",
            ),
        ],
        indirect=["p2"],
        ids=["min-partners", "sme-majority", "max-large", "large-only-experimental", "min-smes", "smes-only"],
    )
    def test_rule(self, p2: Phase2, team: Any, reason: str) -> None:
        """Each composition rule, broken once, is refused by name."""
        error = p2.refused(unlead(team()))
        assert error.guard == "composition"
        assert error.reason.startswith(reason)  # then the partners who break it (test_culprits.py)

    def test_lombardy_seat(self, p2: Phase2) -> None:
        """Every company needs a seat in Lombardy where the measure says so."""
        team = applicants(10, main="20000.00")
        team[3]["lombardy_seat"] = False
        assert p2.refused(team).reason.startswith("every company needs a seat in Lombardy")

    @pytest.mark.parametrize("p2", ["rafforzamento-filiere-2025"], indirect=True)
    def test_one_project_per_partner(self, p2: Phase2) -> None:
        """A codice fiscale already in a live application of the measure is refused."""
        first = applicants(3, start=1500, main="100000.00")
        p2.submit(first)
        second = unlead([*applicants(2, start=1510, main="100000.00"), dict(first[2], capofila=False)])
        error = p2.refused(second)
        assert error.guard == "one_project_per_partner"
        assert first[2]["tax_code"] in error.reason


class TestRankedFunding:
    def _three(self, p2: Phase2, scores: tuple[int, int, int], costs: tuple[str, str, str]) -> list[str]:
        apps = [p2.submit(applicants(10, start=2000 + 20 * i, main=c)) for i, c in enumerate(costs)]
        for application, score in zip(apps, scores, strict=True):
            p2.evaluate(application, score)
        return apps

    def test_ranking_must_be_final(self, p2: Phase2) -> None:
        """A ranked measure funds nothing while its window is open."""
        a, _, _ = self._three(p2, (90, 80, 70), ("20000.00",) * 3)
        with pytest.raises(GuardRefused, match="the ranking is not final"):
            p2.fund(a)

    def test_rank_order_and_ties(self, p2: Phase2) -> None:
        """Funding follows rank; a tie goes to the earlier protocol."""
        a, b, c = self._three(p2, (70, 85, 85), ("20000.00",) * 3)
        p2.close()
        for wrong in (c, a):
            with pytest.raises(GuardRefused) as caught:
                p2.fund(wrong)
            assert caught.value.data["first"] == b
        p2.fund(b)
        with pytest.raises(GuardRefused):
            p2.fund(a)
        p2.fund(c)
        p2.fund(a)
        assert [
            x.id
            for x in queue(
                p2.engine.get("measure", p2.code), p2.engine.find("application", parent_id=p2.code)
            )
        ] == [b, c, a]

    def test_budget_filled_to_the_cent(self, world: World) -> None:
        """Fundings may use the budget exactly, never beyond: the ledger equals the awards."""
        p2 = Phase2(world, "bando-filiere-2022", budget="300000.00")
        apps = self._three(p2, (90, 80, 70), ("20000.00", "20000.00", "20000.00"))  # 100,000 aid each
        p2.close()
        for application in apps:
            p2.fund(application)
        assert p2.ledger() == (Decimal("300000.00"), Decimal("300000.00"))
        reservations = p2.engine.get("measure", p2.code).data["reservations"]
        assert reservations == dict.fromkeys(apps, "100000.00")

    def test_scorrimento_after_shelving(self, world: World) -> None:
        """The application left without money is funded when another renounces, in the same transaction."""
        p2 = Phase2(world, "bando-filiere-2022", budget="250000.00")
        a, b, c = self._three(p2, (90, 80, 70), ("20000.00", "20000.00", "20000.00"))
        p2.close()
        p2.fund(a)
        p2.fund(b)
        with pytest.raises(GuardRefused, match="budget_left"):
            p2.fund(c)
        p2.engine.fire("application", c, "shelve", actor="dir.verdi", role="director")
        renounce = p2.engine.fire(
            "application",
            a,
            "renounce",
            actor=p2.engine.get("application", a).data["owner"],
            role="applicant",
        )
        funded = p2.engine.history("application", c)[-1]
        assert (funded.trigger, funded.actor, funded.to_state) == ("fund", "system", "funded")
        assert funded.cause_seq == renounce.seq + 1  # caused by the measure's release
        assert p2.ledger() == (Decimal("250000.00"), Decimal("200000.00"))

    def test_budget_raise_funds_the_waiting(self, world: World) -> None:
        """Raising the budget funds the application waiting for it (the 2023 +1,000,000)."""
        p2 = Phase2(world, "bando-filiere-2022", budget="150000.00")
        a, b, _ = self._three(p2, (90, 80, 70), ("20000.00", "20000.00", "20000.00"))
        p2.close()
        p2.fund(a)
        p2.engine.fire("application", b, "shelve", actor="dir.verdi", role="director")
        p2.engine.fire(
            "measure",
            p2.code,
            "raise_budget",
            actor="dir.verdi",
            role="director",
            payload={"amount": "1000000.00", "act": "D.O. 2023"},
        )
        assert p2.engine.get("application", b).state == "funded"

    def test_shelve_only_without_money(self, p2: Phase2) -> None:
        """An application the budget covers cannot be shelved."""
        a = self._three(p2, (90, 80, 70), ("20000.00",) * 3)[0]
        p2.close()
        with pytest.raises(GuardRefused, match="no_budget_left"):
            p2.engine.fire("application", a, "shelve", actor="dir.verdi", role="director")

    def test_one_grant_per_company(self, p2: Phase2) -> None:
        """Bando Filiere 2022: a company funded in one project cannot be funded in another."""
        team = applicants(10, start=3000, main="20000.00")
        a = p2.submit(team)
        other = unlead([*applicants(9, start=3100, main="20000.00"), dict(team[5])])
        b = p2.submit(other)
        p2.evaluate(a, 90)
        p2.evaluate(b, 80)
        p2.close()
        p2.fund(a)
        with pytest.raises(GuardRefused) as caught:
            p2.fund(b)
        assert caught.value.guard == "one_grant_per_company"


class TestFirstCome:
    def test_protocol_order_and_exhaustion(self, world: World) -> None:
        """First-come: fund in protocol order; the measure closes when the budget is gone."""
        p2 = Phase2(world, "ricerca-e-innova-2023", budget="200000.00")
        a, b, c = (p2.submit(applicants(1, start=4000 + i, main="100000.00")) for i in range(3))
        for application in (a, b, c):
            p2.evaluate(application, 80)
        with pytest.raises(GuardRefused, match=f"{a} comes first in protocol order"):
            p2.fund(b)
        p2.fund(a)
        p2.fund(b)
        assert p2.engine.get("measure", p2.code).state == "closed"
        assert p2.engine.get("measure", p2.code).data["closing_reason"].startswith("budget exhausted")
        with pytest.raises(GuardRefused, match="budget_left"):
            p2.fund(c)
        with pytest.raises(GuardRefused, match="measure RICERCA-INNOVA-2023 is closed"):
            p2.submit(applicants(1, start=4100, main="100000.00"))

    def test_exhaustion_when_the_next_does_not_fit(self, world: World) -> None:
        """When the next in line does not fit, the funding closes a first-come measure and shelves it."""
        p2 = Phase2(world, "ricerca-e-innova-2023", budget="150000.00")
        a, b = (p2.submit(applicants(1, start=4200 + i, main="100000.00")) for i in range(2))
        p2.evaluate(a, 80)
        p2.evaluate(b, 80)
        p2.fund(a)
        assert p2.engine.get("measure", p2.code).state == "closed"
        assert p2.engine.get("application", b).state == "admitted_not_funded"

    def test_concurrent_funding_never_overcommits(self, world: World) -> None:
        """Eight threads (eight engines on one file) funding at once never exceed the budget."""
        p2 = Phase2(world, "ricerca-e-innova-2023", budget="550000.00")
        apps = [p2.submit(applicants(1, start=4300 + i, main="100000.00")) for i in range(8)]
        for application in apps:
            p2.evaluate(application, 80)
        engines = [world.another_engine() for _ in apps]
        barrier = threading.Barrier(len(apps))
        outcomes: list[str] = []

        def fund(engine: Engine, application: str) -> None:
            barrier.wait()
            for _ in range(3000):  # wait for the earlier protocols: funded, refused for money, or closed
                try:
                    engine.fire("application", application, "fund", actor="dir.verdi", role="director")
                    outcomes.append("funded")
                    return
                except GuardRefused as exc:
                    if exc.guard == "budget_left":
                        with contextlib.suppress(TransitionNotAllowed):  # shelved by its closing already?
                            engine.fire(
                                "application", application, "shelve", actor="dir.verdi", role="director"
                            )
                        outcomes.append("no money")
                        return
                except TransitionNotAllowed:
                    outcomes.append("not allowed")
                    return
                if engine.get("measure", p2.code).state == "closed":
                    outcomes.append("exhausted before its turn")
                    return
                threading.Event().wait(0.01)
            outcomes.append("gave up")

        threads = [threading.Thread(target=fund, args=pair) for pair in zip(engines, apps, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for engine in engines:
            engine.db.dispose()
        budget, reserved = p2.ledger()
        funded = [a for a in p2.engine.find("application", parent_id=p2.code) if a.state == "funded"]
        assert reserved <= budget
        assert reserved == sum(Decimal(a.data["award"]["base"]) for a in funded)
        assert len(funded) == 5
        assert outcomes.count("funded") == 5


class TestCoupling:
    def _listed(self, world: World, owner: str) -> str:
        proposal = world.evaluated(owner)
        decree = world.engine.create(
            "decree",
            actor="dir.verdi",
            role="director",
            payload={"call_id": CALL_ID, "act": "n. 1", "proposal_ids": [proposal]},
        )
        world.engine.fire("decree", decree.entity_id, "approve", actor="dir.verdi", role="director")
        return proposal

    def test_bonus_and_funding_move_the_proposal(self, world: World) -> None:
        """A recognised partnership gets +10 above the threshold, and funding funds its proposal."""
        world.open_call()
        world.at(2022, 9, 1, 10)
        proposal = self._listed(world, "cap.listed")
        p2 = Phase2(world, "bando-filiere-2022")
        cited = p2.submit(applicants(10, start=5000, main="20000.00"), proposal_id=proposal)
        plain = p2.submit(applicants(10, start=5100, main="20000.00"))
        assert p2.evaluate(cited, 70).payload["effects"] == {
            "score": 70,
            "bonus": 10,
            "total": 80,
            "list_version": 1,
        }
        assert p2.evaluate(plain, 75).payload["effects"]["total"] == 75
        p2.close()
        funding = p2.fund(cited)
        coupled = world.engine.history("proposal", proposal)[-1]
        assert (coupled.trigger, coupled.to_state, coupled.cause_seq) == ("fund", "funded", funding.seq)
        assert world.engine.get("proposal", proposal).data["funded_by"] == cited

    def test_no_bonus_below_threshold(self, world: World) -> None:
        """The bonus never lifts a score to the threshold."""
        world.open_call()
        world.at(2022, 9, 1, 10)
        proposal = self._listed(world, "cap.low")
        p2 = Phase2(world, "bando-filiere-2022")
        cited = p2.submit(applicants(10, start=5200, main="20000.00"), proposal_id=proposal)
        event = p2.evaluate(cited, 60)
        assert (event.to_state, event.payload["effects"]["bonus"]) == ("rejected", 0)

    def test_no_bonus_after_the_cutoff(self, world: World) -> None:
        """Recognised after 15/10/2022: no bonus."""
        world.open_call()
        world.at(2022, 9, 1, 10)
        proposal = world.evaluated("cap.late")
        p2 = Phase2(world, "bando-filiere-2022")
        cited = p2.submit(applicants(10, start=5300, main="20000.00"), proposal_id=proposal)
        world.at(2022, 10, 16, 9)
        decree = world.engine.create(
            "decree",
            actor="dir.verdi",
            role="director",
            payload={"call_id": CALL_ID, "act": "n. 9", "proposal_ids": [proposal]},
        )
        world.engine.fire("decree", decree.entity_id, "approve", actor="dir.verdi", role="director")
        assert p2.evaluate(cited, 70).payload["effects"]["bonus"] == 0

    def test_dead_proposal_cannot_be_cited(self, world: World) -> None:
        """A withdrawn proposal cannot be cited."""
        world.open_call()
        world.at(2022, 9, 1, 10)
        proposal = world.submitted("cap.gone")
        world.engine.fire("proposal", proposal, "withdraw", actor="cap.gone", role="applicant")
        p2 = Phase2(world, "bando-filiere-2022")
        error = p2.refused(applicants(10, start=5400, main="20000.00"), proposal_id=proposal)
        assert error.guard == "cited_proposal"


class TestRevocation:
    def _funded(self, world: World) -> tuple[Phase2, str]:
        p2 = Phase2(world, "ricerca-e-innova-2023")
        application = p2.submit(applicants(1, start=6000, main="100000.00"))
        p2.evaluate(application, 80)
        p2.fund(application)
        return p2, application

    def test_partial(self, world: World) -> None:
        """A partial revocation releases that amount and splits it between grant and loan."""
        p2, application = self._funded(world)
        event = p2.engine.fire(
            "application",
            application,
            "revoke",
            actor="dir.verdi",
            role="director",
            payload={"reason": "spese non ammissibili", "amount": "33333.33"},
        )
        revocation = event.payload["effects"]["revocation"]
        assert (revocation["grant"], revocation["loan"], revocation["kept"], revocation["partial"]) == (
            "10000.00",
            "23333.33",
            "66666.67",
            True,
        )
        assert p2.ledger()[1] == Decimal("66666.67")

    def test_total(self, world: World) -> None:
        """A total revocation releases the whole award."""
        p2, application = self._funded(world)
        p2.engine.fire(
            "application",
            application,
            "revoke",
            actor="dir.verdi",
            role="director",
            payload={"reason": "decadenza"},
        )
        assert p2.ledger()[1] == Decimal("0.00")

    def test_not_more_than_the_award(self, world: World) -> None:
        """Revoking more than was awarded is refused."""
        p2, application = self._funded(world)
        with pytest.raises(GuardRefused, match="revocation_within_award"):
            p2.engine.fire(
                "application",
                application,
                "revoke",
                actor="dir.verdi",
                role="director",
                payload={"reason": "x", "amount": "100000.01"},
            )


class TestMeasureFiles:
    @pytest.mark.parametrize(
        ("old", "new", "field"),
        [
            ('budget = "4000000.00"', "budget = 4000000.0", "budget"),
            ('budget = "4000000.00"', 'budget = "4000000.001"', "budget"),
            ('procedure = "ranked"', 'procedure = "lottery"', "procedure"),
            ('grant = "0.50"', 'grant = "1.50"', "aid.main.sme.grant"),
            ('closes_at = "2022-10-17T17:00"', 'closes_at = "2022-09-01T17:00"', "window.closes_at"),
            ('opens_at = "2022-09-05T11:00"', 'opens_at = "2023-03-26T02:30"', "window.opens_at"),
            ("threshold = 65", "threshold = 101", "evaluation"),
            (
                'project_min = "200000.00"',
                'project_min = "200000.00"\nproject_mini = "1.00"',
                "amounts.project_mini",
            ),
        ],
        ids=[
            "float",
            "sub-cent",
            "procedure",
            "rate",
            "closes-before-opening",
            "dst-gap",
            "threshold",
            "unknown",
        ],
    )
    def test_bad_file(self, tmp_path: Path, world: World, old: str, new: str, field: str) -> None:
        """A bad measure file is a configuration error naming the field; nothing is stored."""
        text = example_measure_path("bando-filiere-2022").read_text(encoding="utf-8")
        assert old in text
        path = tmp_path / "measure.toml"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(ConfigurationError) as caught:
            read_measure_file(path)
        assert caught.value.field.startswith(field)
        assert list(world.engine.events()) == []

    @pytest.mark.parametrize("name", ALL)
    def test_shipped_files_load(self, world: World, name: str) -> None:
        """Each shipped measure loads and can be created as a measure."""
        event = world.engine.create(
            "measure", actor="op.rossi", role="operator", payload=measure_config(name)
        )
        assert event.to_state == "planned"
        assert world.engine.get("measure", event.entity_id).data["reserved"] == "0.00"

    def test_no_open_before_the_window(self, world: World) -> None:
        """A measure opens at the start of its window."""
        world.engine.create("measure", actor="op.rossi", role="operator", payload=measure_config())
        world.at(2022, 9, 5, 10, 59)
        with pytest.raises(GuardRefused, match="window_opened"):
            world.engine.fire("measure", "FILIERE-2022", "open", actor="system", role="system")
        assert rome(2022, 9, 5, 11) > world.clock.now()
