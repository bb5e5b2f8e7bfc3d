"""Issue 18.7: the preavviso di rigetto (L. 241/1990 art. 10-bis) in the Phase-1 list, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from handlers.timeutil import from_json
from scheduler.plan import plan
from tests.factories import World, applicants, call_config, measure_config, rome
from tests.workflow.test_phase2 import Phase2
from workflow.errors import GuardRefused, InvalidInput, TransitionNotAllowed

LOW = {"coherence": 10, "partnership": 10, "innovation": 10, "impact": 10}  # 40, below 60
HIGH = {"coherence": 20, "partnership": 20, "innovation": 25, "impact": 15}
REASONS = "Punteggio 40 inferiore alla soglia di 60: innovatività non dimostrata"


@pytest.fixture(name="world")
def _world_on_each_backend(contract_world: World) -> World:
    """Every test here runs on SQLite and on PostgreSQL."""
    contract_world.open_call()
    contract_world.evaluator()
    return contract_world


def refused(action: Any) -> GuardRefused:
    with pytest.raises(GuardRefused) as caught:
        action()
    return caught.value


def negative(world: World) -> str:
    """A proposal submitted on 10/09/2022 and scored 40 on 3/10/2022."""
    world.at(2022, 9, 10, 10)
    proposal = world.submitted()
    world.at(2022, 10, 3, 10)
    world.engine.fire(
        "proposal", proposal, "evaluate", actor="eval.bianchi", role="evaluator", payload={"scores": LOW}
    )
    return proposal


def notified(world: World) -> str:
    """That proposal, with the notice sent on 4/10/2022 at 10:00."""
    proposal = negative(world)
    world.at(2022, 10, 4, 10)
    world.engine.fire(
        "proposal",
        proposal,
        "notify_rejection",
        actor="op.rossi",
        role="operator",
        payload={"reason": REASONS},
    )
    return proposal


def fire(world: World, proposal: str, trigger: str, who: str, role: str, **payload: Any) -> Any:
    return world.engine.fire("proposal", proposal, trigger, actor=who, role=role, payload=payload)


class TestNotice:
    def test_a_negative_evaluation_is_not_yet_a_rejection(self, world: World) -> None:
        """Art. 10-bis: "before a negative decision on an application the reasons are communicated":
        a proposal scored below the threshold waits for the notice, and cannot be rejected before it."""
        proposal = negative(world)
        assert world.engine.get("proposal", proposal).state == "rejection_pending"
        with pytest.raises(TransitionNotAllowed):
            fire(world, proposal, "reject", "op.rossi", "operator", reason="x")

    def test_the_notice_gives_ten_days_and_suspends_the_term(self, world: World) -> None:
        """Art. 10-bis: "the applicant has 10 days to send observations; the communication suspends
        the term": the notice records its reasons and the window's end, 10 days later."""
        proposal = notified(world)
        data = world.engine.get("proposal", proposal).data
        assert data["preavviso"]["reason"] == REASONS
        assert from_json(data["preavviso"]["observations_due"]) == rome(2022, 10, 14, 10)
        assert world.engine.get("proposal", proposal).state == "rejection_notified"

    def test_a_notice_needs_its_reasons(self, world: World) -> None:
        """The notice communicates the reasons: without them it is not sent."""
        proposal = negative(world)
        with pytest.raises(InvalidInput):
            fire(world, proposal, "notify_rejection", "op.rossi", "operator", reason="")
        assert world.engine.get("proposal", proposal).state == "rejection_pending"


class TestObservations:
    def test_observations_restart_the_term_ten_days_later(self, world: World) -> None:
        """Art. 10-bis: the term "restarts 10 days after the observations": filed on the tenth day,
        the evaluation term moves by the time from the notice to ten days after them."""
        proposal = notified(world)
        due_before = from_json(world.engine.get("proposal", proposal).data["evaluation_due"])
        world.at(2022, 10, 14, 10)  # the last instant of the window
        event = fire(
            world, proposal, "observe", "capofila.alfa", "applicant", text="L'innovazione è nel brevetto"
        )
        assert event.to_state == "observations_filed"
        restarts = rome(2022, 10, 24, 10)
        assert from_json(event.payload["effects"]["term_restarts_at"]) == restarts
        due_after = from_json(world.engine.get("proposal", proposal).data["evaluation_due"])
        assert due_after - due_before == restarts - rome(2022, 10, 4, 10)

    def test_late_observations_are_refused(self, world: World) -> None:
        """Observations come "within 10 days": one second after, they are refused and nothing changes."""
        proposal = notified(world)
        world.at(2022, 10, 14, 10, 0, 1)
        error = refused(lambda: fire(world, proposal, "observe", "capofila.alfa", "applicant", text="tardi"))
        assert error.guard == "before_observations_due"
        assert world.engine.get("proposal", proposal).state == "rejection_notified"

    def test_the_decision_says_why_the_observations_were_not_accepted(self, world: World) -> None:
        """Art. 10-bis: the final decision gives the reasons why the observations were not accepted:
        a rejection without them is refused; with them the proposal is rejected."""
        proposal = notified(world)
        world.at(2022, 10, 10, 9)
        fire(world, proposal, "observe", "capofila.alfa", "applicant", text="Il brevetto è depositato")
        world.at(2022, 10, 25, 9)
        error = refused(lambda: fire(world, proposal, "reject", "op.rossi", "operator", reason=REASONS))
        assert error.guard == "observations_answered"
        event = fire(
            world,
            proposal,
            "reject",
            "op.rossi",
            "operator",
            reason=REASONS,
            observations_not_accepted="Il brevetto riguarda un altro prodotto",
        )
        assert event.to_state == "rejected"
        assert event.payload["effects"]["rejection"]["observations_not_accepted"].startswith("Il brevetto")

    def test_accepted_observations_send_it_back_to_evaluation(self, world: World) -> None:
        """Observations that convince: the proposal is evaluated again and may be found worthy."""
        proposal = notified(world)
        world.at(2022, 10, 10, 9)
        fire(world, proposal, "observe", "capofila.alfa", "applicant", text="Punteggio errato")
        fire(world, proposal, "reconsider", "op.rossi", "operator", reason="Osservazioni fondate")
        assert world.engine.get("proposal", proposal).state == "submitted"
        world.at(2022, 10, 12, 9)
        event = fire(world, proposal, "evaluate", "eval.bianchi", "evaluator", scores=HIGH)
        assert event.to_state == "evaluated"
        assert world.engine.get("proposal", proposal).data["preavvisi"][0]["reason"] == REASONS


class TestWithoutObservations:
    def test_the_window_closes_by_the_scheduler_and_the_term_restarts_at_its_end(self, world: World) -> None:
        """Art. 10-bis: without observations the term restarts "at the end of the 10 days": the plan
        asks to close the window then, not before; the rejection then needs no answer to observations."""
        proposal = notified(world)
        world.at(2022, 10, 14, 10)
        error = refused(lambda: fire(world, proposal, "close_observations", "system", "system"))
        assert error.guard == "observations_due_passed"
        jobs = [j for j in plan(world.engine) if j.trigger == "close_observations"]
        assert [(j.entity_id, j.effective_at) for j in jobs] == [(proposal, rome(2022, 10, 14, 10))]
        world.clock.set(jobs[0].run_at)
        event = world.engine.fire(
            "proposal",
            proposal,
            "close_observations",
            actor="system",
            role="system",
            idempotency_key=jobs[0].idempotency_key,
            effective_at=jobs[0].effective_at,
        )
        assert event.to_state == "observations_lapsed"
        assert from_json(event.payload["effects"]["term_restarts_at"]) == rome(2022, 10, 14, 10)
        assert [j for j in plan(world.engine) if j.trigger == "close_observations"] == []
        world.clock.advance(days=1)
        assert fire(world, proposal, "reject", "op.rossi", "operator", reason=REASONS).to_state == "rejected"


class TestWhereItDoesNotApply:
    def test_not_for_inadmissibility(self, world: World) -> None:
        """Art. 10-bis does not apply to "cases of inadmissibility, incompleteness": declaring a
        proposal inadmissible needs no notice."""
        world.at(2022, 9, 10, 10)
        proposal = world.submitted()
        event = fire(
            world, proposal, "declare_inadmissible", "op.rossi", "operator", reason="Accordo mancante"
        )
        assert event.to_state == "inadmissible"

    def test_a_call_without_preavviso(self, contract_world: World) -> None:
        """A call whose file does not require the notice (as files written before it) rejects at once."""
        config = call_config(code="MI-NOPREAVVISO")
        del config["preavviso"]
        contract_world.open_call(config)
        contract_world.evaluator()
        proposal = contract_world.draft(call="MI-NOPREAVVISO")
        contract_world.engine.fire("proposal", proposal, "submit", actor="capofila.alfa", role="applicant")
        event = fire(contract_world, proposal, "evaluate", "eval.bianchi", "evaluator", scores=LOW)
        assert event.to_state == "rejected"

    def test_observation_days_are_configurable(self, contract_world: World) -> None:
        """The window is configuration: a call giving 15 days closes it 15 days after the notice."""
        config = call_config(code="MI-QUINDICI")
        config["preavviso"] = {"required": True, "observation_days": 15}
        contract_world.open_call(config)
        contract_world.evaluator()
        proposal = contract_world.draft(call="MI-QUINDICI")
        contract_world.engine.fire("proposal", proposal, "submit", actor="capofila.alfa", role="applicant")
        fire(contract_world, proposal, "evaluate", "eval.bianchi", "evaluator", scores=LOW)
        event = fire(contract_world, proposal, "notify_rejection", "op.rossi", "operator", reason=REASONS)
        sent = contract_world.clock.now()
        assert from_json(event.payload["effects"]["preavviso"]["observations_due"]) == sent + timedelta(
            days=15
        )


class TestMeasures:
    def test_not_in_a_ranked_measure(self, world: World) -> None:
        """Art. 10-bis "does not apply to procedimenti concorsuali (competitive ranked calls)": in the
        Bando Filiere 2022 (graduatoria, threshold 65) a score of 60 is rejected at once."""
        p2 = Phase2(world, "bando-filiere-2022")
        application = p2.submit(applicants(10, start=6000, main="20000.00"))
        assert p2.evaluate(application, 60).to_state == "rejected"

    def test_a_ranked_measure_cannot_require_it(self, world: World) -> None:
        """A ranked measure file that requires the notice is refused, naming the field; nothing is stored."""
        config = measure_config("bando-filiere-2022", code="FILIERE-2022-X", preavviso={"required": True})
        with pytest.raises(InvalidInput) as caught:
            world.engine.create("measure", actor="op.rossi", role="operator", payload=config)
        assert caught.value.field == "preavviso.required"
        assert [e for e in world.engine.events() if e.entity_id == "FILIERE-2022-X"] == []

    def test_a_first_come_measure_notifies_first(self, world: World) -> None:
        """Ricerca e Innova is "valutativa a sportello" (not competitive): below the threshold of 60 the
        application waits for the notice, the applicant observes within 10 days, the director rejects
        saying why the observations were not accepted."""
        p2 = Phase2(world, "ricerca-e-innova-2023")
        application = p2.submit(applicants(1, start=6100, main="80000.00"))
        owner = p2.engine.get("application", application).data["owner"]
        assert p2.evaluate(application, 59).to_state == "rejection_pending"
        p2.engine.fire(
            "application",
            application,
            "notify_rejection",
            actor="op.rossi",
            role="operator",
            payload={"reason": "Coerenza S3 insufficiente"},
        )
        world.clock.advance(days=10)
        p2.engine.fire(
            "application", application, "observe", actor=owner, role="applicant", payload={"text": "S3"}
        )
        final = p2.engine.fire(
            "application",
            application,
            "reject",
            actor="dir.verdi",
            role="director",
            payload={
                "reason": "Coerenza S3 insufficiente",
                "observations_not_accepted": "Tema S3 non pertinente",
            },
        )
        assert final.to_state == "rejected"


class TestReplay:
    def test_a_preavviso_and_a_criteria_change_replay_clean(self, world: World) -> None:
        """The log alone rebuilds a notice with observations and a rejection, and a proposal judged
        under DGR 1586/2023, on both backends: every step legal, the tables equal to the replay."""
        from workflow.audit.compare import compare
        from workflow.audit.replay import replay
        from workflow.audit.stored import canonical_events, stored_definitions

        proposal = notified(world)
        world.at(2022, 10, 10, 9)
        fire(world, proposal, "observe", "capofila.alfa", "applicant", text="Osservazioni")
        fire(
            world,
            proposal,
            "reject",
            "op.rossi",
            "operator",
            reason=REASONS,
            observations_not_accepted="Infondate",
        )
        world.at(2024, 1, 10, 10)
        later = world.submitted()
        scores = {"coherence": 15, "partnership": 10, "agreement": 15, "innovation": 10, "impact": 10}
        fire(world, later, "evaluate", "eval.bianchi", "evaluator", scores=scores)
        result = compare(
            world.engine.db, replay(canonical_events(world.engine.db), stored_definitions(world.engine.db))
        )
        assert result.ok, result.text()
        assert world.engine.get("proposal", later).data["evaluation"]["criteria"]["number"] == 2
