"""The funded project on both backends: acceptance, advance, reports, recomputation, settlement, changes.

Ricerca e Innova 2023 (one SME, 30% grant + 70% zero-rate loan, 7 years of
half-yearly instalments) serves the money paths; Rafforzamento filiere 2025
(at least three partners) serves the partner changes. Default project rules:
acceptance within 30 days, advance 40% of the grant, minimum share 70%,
substitute within 60 days.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from handlers.projectledger import measure_ledger, reconcile
from scheduler.plan import plan
from scheduler.simulation import run_until
from tests.factories import World, applicants
from tests.workflow.test_phase2 import Phase2
from workflow.audit.replay import replay
from workflow.audit.stored import canonical_events, stored_definitions
from workflow.engine import Engine
from workflow.errors import GuardRefused, TransitionNotAllowed

OPERATOR, DIRECTOR = "op.rossi", "dir.verdi"
SHA = hashlib.sha256(b"fattura 1").hexdigest()


@pytest.fixture(name="world")
def _world_on_each_backend(contract_world: World) -> World:
    """Every test here runs on a SQLite file and on PostgreSQL."""
    return contract_world


class Project:
    """One funded application and its project, with shortcuts for each step."""

    def __init__(self, world: World, name: str, partners: list[dict[str, Any]]) -> None:
        self.world, self.engine = world, world.engine
        self.p2 = Phase2(world, name)
        app = self.p2.submit(partners)
        self.owner = self.engine.get("application", app).data["owner"]
        self.p2.evaluate(app, 60)
        self.p2.fund(app)
        self.id = app
        self.engine.create(
            "project", entity_id=app, actor=OPERATOR, role="operator", payload={"application_id": app}
        )

    def fire(self, trigger: str, role: str, **payload: Any) -> Any:
        actor = {"applicant": self.owner, "operator": OPERATOR, "director": DIRECTOR, "system": "system"}[
            role
        ]
        return self.engine.fire("project", self.id, trigger, actor=actor, role=role, payload=payload)

    @property
    def data(self) -> Any:
        return self.engine.get("project", self.id).data

    @property
    def state(self) -> str:
        return self.engine.get("project", self.id).state

    def reserved(self) -> Decimal:
        return Decimal(self.engine.get("measure", self.p2.code).data["reserved"])

    def report(self, kind: str, spent: dict[str, str]) -> int:
        items = [
            {
                "partner": code,
                "category": "attrezzature",
                "description": "macchinario",
                "amount": amount,
                "documents": [{"name": "fattura.pdf", "sha256": SHA}],
            }
            for code, amount in spent.items()
        ]
        return int(self.fire("report", "applicant", kind=kind, items=items).payload["effects"]["report"])

    def review(self, number: int, admitted: dict[str, str], reason: str = "spesa non pertinente") -> None:
        items = next(r for r in self.data["reports"] if r["n"] == number)["items"]
        decisions = []
        for item in items:
            amount = admitted.get(item["id"], item["amount"])
            cut = Decimal(amount) < Decimal(item["amount"])
            decisions.append({"item": item["id"], "admitted": amount, **({"reason": reason} if cut else {})})
        self.fire("review", "operator", report=number, decisions=decisions)

    def reconciles(self) -> None:
        events = [
            {"trigger": e.trigger, "payload": e.payload} for e in self.engine.history("project", self.id)
        ]
        assert reconcile(events, self.data["ledger"]) == []


def innova(world: World, main: str = "100000.00") -> Project:
    """A Ricerca e Innova project: base = costs, 30% grant, 70% loan."""
    return Project(world, "ricerca-e-innova-2023", applicants(1, main=main))


def accepted_with_advance(world: World) -> Project:
    project = innova(world)
    world.at(2023, 2, 10, 10)
    project.fire("accept", "applicant")
    world.at(2023, 6, 30, 12)
    project.fire("pay_advance", "operator", mandate="M-2023-118", paid_on="2023-06-30", amount="12000.00")
    return project


def test_accepted_and_paid_in_full(world: World) -> None:
    """100,000.00 admitted of 100,000.00: grant 30,000.00 less the 12,000.00 advance, plus the loan.

    Balance = 30,000.00 - 12,000.00 + 70,000.00 = 88,000.00; the loan in 14 half-yearly
    instalments of 5,000.00 at zero interest, the first six months after the balance.
    """
    project = accepted_with_advance(world)
    reserved = project.reserved()
    world.at(2024, 3, 1, 10)
    code = project.data["partners"][0]["tax_code"]
    number = project.report("final", {code: "100000.00"})
    assert project.state == "final_review"
    project.review(number, {})
    event = project.fire("recompute", "operator")
    assert event.to_state == "balance_due"
    with pytest.raises(GuardRefused, match=r"the balance is 88\.000,00 €"):
        project.fire("pay_balance", "operator", mandate="M-2024-7", paid_on="2024-03-01", amount="88000.01")
    event = project.fire(
        "pay_balance", "operator", mandate="M-2024-7", paid_on="2024-03-01", amount="88000.00"
    )
    assert event.to_state == "closed"
    plan_rows = event.payload["effects"]["loan_plan"]
    assert len(plan_rows) == 14
    assert {r["principal"] for r in plan_rows} == {"5000.00"}
    assert {r["interest"] for r in plan_rows} == {"0.00"}
    assert (plan_rows[0]["due"], plan_rows[-1]["due"]) == ("2024-09-01", "2031-03-01")
    totals = project.data["ledger"]["project"]
    assert totals == {
        "awarded": "100000.00",
        "paid": "100000.00",
        "admitted": "100000.00",
        "recovered": "0.00",
        "outstanding": "0.00",
        "interest": "0.00",
    }
    assert project.reserved() == reserved
    project.reconciles()


def test_acceptance_lapsed(world: World) -> None:
    """No acceptance in 30 days: the scheduler proposes forfeiture, the director decides; money returns."""
    project = innova(world)
    reserved = project.reserved()
    with pytest.raises(GuardRefused, match="acceptance term runs until"):
        project.fire("propose_forfeiture", "system")
    jobs = [j for j in plan(world.engine) if j.kind == "project"]
    assert [(j.trigger, j.effective_at) for j in jobs] == [
        ("propose_forfeiture", world.engine.clock.now() + timedelta(days=30))
    ]
    world.clock.advance(days=31)
    with pytest.raises(GuardRefused, match="the acceptance was due by"):
        project.fire("accept", "applicant")  # late, though the scheduler has not run yet
    run_until(world.engine, world.engine.clock.now())
    assert project.state == "forfeiture_proposed"
    with pytest.raises(TransitionNotAllowed):
        project.fire("accept", "applicant")
    event = project.fire("forfeit", "director", reason="accettazione non pervenuta nei termini")
    assert event.to_state == "revoked"
    assert project.reserved() == reserved - Decimal("100000.00")
    assert project.data["ledger"]["project"]["outstanding"] == "0.00"


def test_partial_recomputation(world: World) -> None:
    """80,000.00 admitted of 100,000.00 (80% >= 70%): grant 24,000.00 and loan 56,000.00; 20,000.00 released.

    Balance = 24,000.00 - 12,000.00 advance + 56,000.00 loan = 68,000.00.
    """
    project = accepted_with_advance(world)
    reserved = project.reserved()
    world.at(2024, 1, 15, 10)
    code = project.data["partners"][0]["tax_code"]
    sal = project.report("sal", {code: "50000.00"})
    with pytest.raises(GuardRefused, match="a report awaits review"):
        project.report("final", {code: "1.00"})
    with pytest.raises(GuardRefused, match=r"item 1\.1 is cut: say why"):
        project.fire("review", "operator", report=sal, decisions=[{"item": "1.1", "admitted": "40000.00"}])
    assert len(project.engine.history("project", project.id)) == 4  # the refusal wrote nothing
    project.review(sal, {"1.1": "40000.00"})
    final = project.report("final", {code: "50000.00"})
    project.review(final, {"2.1": "40000.00"}, reason="fattura fuori periodo")
    event = project.fire("recompute", "operator")
    figures = event.payload["effects"]["recomputation"]
    assert (event.to_state, figures["share"], figures["grant"], figures["loan"], figures["released"]) == (
        "balance_due",
        "0.8000",
        "24000.00",
        "56000.00",
        "20000.00",
    )
    assert project.reserved() == reserved - Decimal("20000.00")
    project.fire("pay_balance", "operator", mandate="M-9", paid_on="2024-01-15", amount="68000.00")
    line = project.data["ledger"]["partners"][code]
    assert line == {
        "awarded": "100000.00",
        "paid": "80000.00",
        "admitted": "80000.00",
        "recovered": "0.00",
        "outstanding": "0.00",
    }
    assert [i.get("reason") for r in project.data["reports"] for i in r["items"]] == [
        "spesa non pertinente",
        "fattura fuori periodo",
    ]
    project.reconciles()
    measure = project.engine.get("measure", project.p2.code).data
    projects = [p.data for p in project.engine.find("project", parent_id=project.p2.code)]
    assert measure_ledger(measure, projects) == {
        "committed": "80000.00",
        "paid": "80000.00",
        "recovered": "0.00",
        "available": str(Decimal(measure["budget"]) - Decimal("80000.00")),
    }


def test_final_report_not_filed_in_time(world: World) -> None:
    """12 months from 10 Feb 2023 end on 10 Feb 2024; the final report is due 90 days later, 10 May 2024."""
    project = innova(world)
    world.at(2023, 2, 10, 10)
    project.fire("accept", "applicant")
    assert project.data["ends_on"] == "2024-02-10"
    world.at(2024, 5, 10, 23, 59)
    assert run_until(world.engine, world.engine.clock.now()) == []
    world.at(2024, 5, 11, 0, 1)
    code = project.data["partners"][0]["tax_code"]
    with pytest.raises(GuardRefused, match="the final report was due by"):
        project.report("final", {code: "100000.00"})
    run_until(world.engine, world.engine.clock.now())
    assert (project.state, project.data["forfeiture"]["term"]) == ("forfeiture_proposed", "final report")


def test_total_revocation_after_an_advance_with_interest_across_years(world: World) -> None:
    """60,000.00 admitted of 100,000.00 (60% < 70%): total revocation; the 12,000.00 advance comes back.

    Advance paid 30 June 2023, repaid 15 March 2024, actual/365:
    2023: 1 Jul - 31 Dec = 184 days at 5%: 12,000 x 0.05 x 184 / 365 = 302.4657...
    2024: 1 Jan - 15 Mar = 75 days at 2.5%: 12,000 x 0.025 x 75 / 365 = 61.6438...
    interest 364.1095... = 364.11; due 12,364.11.
    """
    project = accepted_with_advance(world)
    reserved = project.reserved()
    world.at(2024, 1, 10, 10)
    code = project.data["partners"][0]["tax_code"]
    final = project.report("final", {code: "100000.00"})
    project.review(final, {"1.1": "60000.00"})
    event = project.fire("recompute", "operator")
    assert event.to_state == "recovering"
    assert project.data["revocation"]["kind"] == "below the minimum share"
    assert project.reserved() == reserved - Decimal("100000.00")
    world.at(2024, 3, 15, 12)
    with pytest.raises(GuardRefused, match=r"12\.364,11 € is due on 2024-03-15: 12\.000,00 € and 364,11 €"):
        project.fire("repay", "operator", paid_on="2024-03-15", amount="12000.00")
    event = project.fire("repay", "operator", paid_on="2024-03-15", amount="12364.11", reference="F24-1")
    assert event.to_state == "closed"
    periods = event.payload["effects"]["recovery"]["periods"]
    assert [(p["year"], p["days"], p["rate"]) for p in periods] == [
        ("2023", "184", "0.05"),
        ("2024", "75", "0.025"),
    ]
    totals = project.data["ledger"]["project"]
    assert (totals["paid"], totals["recovered"], totals["interest"], totals["outstanding"]) == (
        "12000.00",
        "12000.00",
        "364.11",
        "0.00",
    )
    project.reconciles()
    assert world.engine.replay().ok


def test_replay_catches_a_ledger_that_drifts(world: World) -> None:
    """An advance recorded in the ledger as 12,000.01 is reported by replay at the event that stores it."""
    project = accepted_with_advance(world)
    events = list(canonical_events(world.engine.db))
    paid = next(e for e in events if e["trigger"] == "pay_advance")
    code = project.data["partners"][0]["tax_code"]
    paid["payload"]["changes"]["ledger"]["partners"][code]["paid"] = "12000.01"
    result = replay(events, stored_definitions(world.engine.db))
    assert [(p.seq, p.field) for p in result.illegal] == [(paid["seq"], "ledger")]
    assert "paid 12000.01, the events say 12000.00" in result.illegal[0].reason


def three_partners(world: World) -> Project:
    """Rafforzamento 2025 at its minimum composition: three SMEs of 100,000.00 each."""
    project = Project(world, "rafforzamento-filiere-2025", applicants(3, main="100000.00"))
    project.fire("accept", "applicant")
    return project


def test_partner_replaced_in_time(world: World) -> None:
    """Three partners is the minimum: one leaves, a substitute approved in 60 days takes over its share."""
    project = three_partners(world)
    leaving = project.data["partners"][2]
    event = project.fire("leave", "operator", partner=leaving["tax_code"], reason="cessazione attività")
    assert event.to_state == "substitution_pending"
    world.clock.advance(days=59)
    newcomer = applicants(1, start=900)[0]
    newcomer = {k: newcomer[k] for k in ("tax_code", "name", "size", "lombardy_seat")}
    newcomer["credit_scoring"] = 2  # the 2025 measure asks every company for its class
    event = project.fire("substitute", "operator", partner=newcomer, act="decreto 123/2025")
    assert event.to_state == "in_progress"
    taken = next(p for p in project.data["partners"] if p["tax_code"] == newcomer["tax_code"])
    assert (taken["grant"], taken["loan"], taken["main"]) == (leaving["grant"], leaving["loan"], "100000.00")
    assert project.data["award"]["base"] == "210000.00"


def test_partner_not_replaced_in_time(world: World) -> None:
    """No substitute within 60 days: forfeiture proposed by the scheduler, decided by the director."""
    project = three_partners(world)
    reserved = project.reserved()
    project.fire("leave", "operator", partner=project.data["partners"][1]["tax_code"], reason="recesso")
    run_until(world.engine, world.engine.clock.now() + timedelta(days=61))
    assert project.state == "forfeiture_proposed"
    assert project.data["forfeiture"]["term"] == "substitution"
    project.fire("forfeit", "director", reason="partenariato non ricostituito")
    assert project.state == "revoked"
    assert project.reserved() == reserved - Decimal("210000.00")


def test_partner_leaving_a_partnership_that_still_holds(world: World) -> None:
    """Four partners, one leaves: the composition holds, its 70,000.00 share goes back to the measure."""
    project = Project(world, "rafforzamento-filiere-2025", applicants(4, main="100000.00"))
    project.fire("accept", "applicant")
    reserved = project.reserved()
    event = project.fire(
        "leave", "operator", partner=project.data["partners"][3]["tax_code"], reason="recesso"
    )
    assert (event.to_state, event.payload["effects"]["released"]) == ("in_progress", "70000.00")
    assert project.reserved() == reserved - Decimal("70000.00")
    assert project.data["award"] == {"base": "210000.00", "grant": "30000.00", "loan": "180000.00"}


def test_variant(world: World) -> None:
    """A variant down to 90,000.00 lowers the award to 90,000.00; one back up never raises it again."""
    project = innova(world)
    project.fire("accept", "applicant")
    code = project.data["partners"][0]["tax_code"]
    reserved = project.reserved()
    project.fire(
        "request_variant",
        "applicant",
        reason="rimodulazione",
        partners=[{"tax_code": code, "main": "90000.00", "experimental": "0.00"}],
    )
    assert project.state == "variant_requested"
    event = project.fire("approve_variant", "operator")
    assert event.payload["effects"]["variant"]["award"] == {
        "base": "90000.00",
        "grant": "27000.00",
        "loan": "63000.00",
    }
    assert project.reserved() == reserved - Decimal("10000.00")
    project.fire(
        "request_variant",
        "applicant",
        reason="di nuovo",
        partners=[{"tax_code": code, "main": "150000.00", "experimental": "0.00"}],
    )
    project.fire("approve_variant", "operator")
    assert project.data["award"]["base"] == "90000.00"
    project.fire(
        "request_variant",
        "applicant",
        reason="terza",
        partners=[{"tax_code": code, "main": "1.00", "experimental": "0.00"}],
    )
    project.fire("reject_variant", "operator", reason="non motivata")
    assert project.state == "in_progress"
    assert project.data["award"]["base"] == "90000.00"


def test_renunciation_after_the_advance(world: World) -> None:
    """The beneficiary renounces after the advance: the award is released and the advance recovered."""
    project = accepted_with_advance(world)
    reserved = project.reserved()
    event = project.fire("renounce", "applicant", reason="progetto non avviato")
    assert event.to_state == "recovering"
    assert project.reserved() == reserved - Decimal("100000.00")
    assert project.data["ledger"]["project"]["outstanding"] == "-12000.00"


def test_opening_needs_a_funded_application(engine: Engine) -> None:
    """A project for an unknown application is refused and writes nothing."""
    with pytest.raises(GuardRefused, match="unknown, not funded"):
        engine.create(
            "project",
            entity_id="A-000001",
            actor=OPERATOR,
            role="operator",
            payload={"application_id": "A-000001"},
        )
    assert list(engine.events()) == []


def test_the_cli_opens_and_accepts_a_project(engine: Engine, clock: Any, db_path: Any) -> None:
    """The generic doors serve the project: create, fire, a bad date refused with exit 8, nothing written."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    p2 = Phase2(World(engine=engine, clock=clock, path=str(db_path)), "ricerca-e-innova-2023")
    application = p2.submit(applicants(1, main="100000.00"))
    owner = engine.get("application", application).data["owner"]
    p2.evaluate(application, 60)
    p2.fund(application)
    cli = str(Path(sys.executable).parent / "filiere")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [cli, "--db", f"sqlite:///{db_path}", "--json", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    opened = run(
        "create",
        "project",
        "--actor",
        OPERATOR,
        "--role",
        "operator",
        "--data",
        json.dumps({"application_id": application}),
    )
    assert opened.returncode == 0, opened.stderr
    assert (
        run("fire", "project", application, "accept", "--actor", owner, "--role", "applicant").returncode == 0
    )
    before = len(engine.history("project", application))
    bad = run(
        "fire",
        "project",
        application,
        "pay_advance",
        "--actor",
        OPERATOR,
        "--role",
        "operator",
        "--data",
        json.dumps({"mandate": "M-1", "paid_on": "2023-13-01", "amount": "12000.00"}),
    )
    assert bad.returncode == 8
    assert json.loads(bad.stderr)["type"] == "InvalidInput"
    assert len(engine.history("project", application)) == before


def three_with_advance(world: World) -> tuple[Project, list[str]]:
    """Three SMEs of 100,000.00 (each 10,000.00 grant + 60,000.00 loan), advance 12,000.00 = 4,000.00 each."""
    project = three_partners(world)
    today = world.engine.clock.now().date().isoformat()
    project.fire("pay_advance", "operator", mandate="M-1", paid_on=today, amount="12000.00")
    world.at(2026, 1, 10, 10)
    return project, [p["tax_code"] for p in project.data["partners"]]


def test_recomputation_per_partner_at_the_minimum_share(world: World) -> None:
    """Admitted 130,000.00 + 100,000.00 + 10,000.00: counted 100k + 100k + 10k = 210k of 300k = 70%, kept.

    A: 10,000 x 130/100 = 13,000, cut to its award 10,000.00; loan 60,000.00.
    B: 10,000.00 and 60,000.00. C: 10,000 x 10/100 = 1,000.00 and 6,000.00.
    Grant 21,000.00, loan 126,000.00, released 210,000 - 147,000 = 63,000.00.
    Net per partner: A 10,000 - 4,000 = 6,000; B 6,000; C 1,000 - 4,000 = -3,000; project 9,000.00.
    Balance 9,000.00 + 126,000.00 = 135,000.00.
    """
    project, (a, b, c) = three_with_advance(world)
    final = project.report("final", {a: "130000.00", b: "100000.00", c: "10000.00"})
    project.review(final, {})
    reserved = project.reserved()
    figures = project.fire("recompute", "operator").payload["effects"]["recomputation"]
    assert (figures["share"], figures["grant"], figures["loan"], figures["released"], figures["net"]) == (
        "0.7000",
        "21000.00",
        "126000.00",
        "63000.00",
        "9000.00",
    )
    assert [figures["partners"][x]["grant"] for x in (a, b, c)] == ["10000.00", "10000.00", "1000.00"]
    assert project.reserved() == reserved - Decimal("63000.00")
    project.fire("pay_balance", "operator", mandate="M-2", paid_on="2026-01-10", amount="135000.00")
    lines = project.data["ledger"]["partners"]
    assert [lines[x]["paid"] for x in (a, b, c)] == ["70000.00", "70000.00", "7000.00"]
    assert {line["outstanding"] for line in lines.values()} == {"0.00"}
    project.reconciles()


def test_one_cent_below_the_minimum_share_revokes_everything(world: World) -> None:
    """209,999.99 of 300,000.00 counted is below 70%: total revocation, the 12,000.00 advance to recover."""
    project, (a, b, c) = three_with_advance(world)
    final = project.report("final", {a: "100000.00", b: "100000.00", c: "9999.99"})
    project.review(final, {})
    event = project.fire("recompute", "operator")
    assert (event.to_state, event.payload["effects"]["recomputation"]["grant"]) == ("recovering", "0.00")
    assert project.data["recovery"]["principal"] == "12000.00"
    assert project.data["ledger"]["project"]["outstanding"] == "-12000.00"


def test_the_director_may_extend_instead_of_forfeiting(world: World) -> None:
    """A late acceptance justified: the director sets a new term ahead, the beneficiary accepts by it."""
    project = innova(world)
    world.clock.advance(days=31)
    run_until(world.engine, world.engine.clock.now())
    assert project.state == "forfeiture_proposed"
    with pytest.raises(GuardRefused, match="has passed"):
        project.fire("reinstate", "director", reason="PEC ricevuta in tempo", due="2023-01-01T12:00")
    event = project.fire("reinstate", "director", reason="PEC ricevuta in tempo", due="2023-04-30T12:00")
    assert event.to_state == "awarded"
    assert project.data["acceptance_due"] == "2023-04-30T10:00:00Z"
    assert project.fire("accept", "applicant").to_state == "in_progress"


def test_the_demo_continues_two_projects(tmp_path: Any) -> None:
    """``filiere demo --funding``: one project closed by its balance, one by a recovery; replay is clean.

    Alfa's advance, 160,000.00 paid 21 Jul 2025 and repaid 30 Jun 2026:
    163 days of 2025 at 2%: 160,000 x 0.02 x 163 / 365 = 1,429.0410...
    181 days of 2026 at 1.6%: 160,000 x 0.016 x 181 / 365 = 1,269.4795...; interest 2,698.52.
    """
    from workflow.demo.phase1 import run_demo

    lines: list[str] = []
    assert run_demo(tmp_path / "demo.db", echo=lines.append, funding=True)
    engine = Engine(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        assert engine.replay().ok
        assert [engine.get("project", a).state for a in ("A-000005", "A-000001")] == ["closed", "closed"]
        assert engine.get("project", "A-000001").data["ledger"]["project"]["interest"] == "2698.52"
        assert any("balance 1.057.000,00 € paid" in line for line in lines)
    finally:
        engine.db.dispose()
