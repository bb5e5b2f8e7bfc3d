"""Issue 18.5: criteria by act; a proposal is judged under the version in force when it was submitted."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.criteria import in_force
from tests.factories import World, call_config, rome
from workflow.errors import GuardRefused, InvalidInput

OLD = {"coherence": 20, "partnership": 20, "innovation": 25, "impact": 15}  # 80 under the 2022 criteria
DGR_1586 = {"coherence": 15, "partnership": 10, "agreement": 15, "innovation": 10, "impact": 10}  # 60
DGR_5377 = {
    "innovation": 15,
    "transition": 15,
    "workforce": 10,
    "internationalisation": 10,
    "reshoring": 5,
    "capital": 0,
    "agreement": 4,
}  # 59


@pytest.fixture(name="world")
def _world_on_each_backend(contract_world: World) -> World:
    """Every test here runs on SQLite and on PostgreSQL."""
    contract_world.open_call()
    contract_world.evaluator()
    return contract_world


def submitted_at(world: World, *moment: int) -> str:
    draft = world.draft()
    world.at(*moment)
    world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
    return draft


def evaluate(world: World, proposal: str, scores: dict[str, int]) -> Any:
    return world.engine.fire(
        "proposal", proposal, "evaluate", actor="eval.bianchi", role="evaluator", payload={"scores": scores}
    )


class TestVersionInForceAtSubmission:
    def test_before_dgr_1586_the_2022_criteria_judge(self, world: World) -> None:
        """DGR 1586/2023 "updates the criteria for **new** filiere": a proposal submitted on 1 June
        2023 is judged under the DGR XI/5899/2022 criteria even when evaluated in January 2024."""
        proposal = submitted_at(world, 2023, 6, 1, 10)
        world.at(2024, 1, 15, 10)
        event = evaluate(world, proposal, OLD)
        assert event.to_state == "evaluated"
        assert event.payload["effects"]["criteria"] == {
            "number": 1,
            "act": "DGR XI/5899/2022 (criteri)",
            "effective_at": None,
            "threshold": 60,
        }
        assert world.engine.get("proposal", proposal).data["evaluation"]["criteria"]["number"] == 1

    def test_after_dgr_1586_its_criteria_judge(self, world: World) -> None:
        """DGR n. 1586 of 18 Dec 2023: the accordo di progetto "must be signed by all partners and
        show duration, roles and economic commitments": a proposal submitted on 10 January 2024 is
        scored on the agreement too, and the 2022 scores are refused."""
        proposal = submitted_at(world, 2024, 1, 10, 10)
        with pytest.raises(GuardRefused) as caught:
            evaluate(world, proposal, OLD)
        assert (caught.value.guard, caught.value.data["missing"]) == ("scores_valid", ["agreement"])
        event = evaluate(world, proposal, DGR_1586)
        assert event.to_state == "evaluated"
        assert event.payload["effects"]["criteria"]["act"] == "DGR n. 1586 del 18/12/2023"
        assert event.payload["effects"]["criteria"]["effective_at"] == "2023-12-18T11:00:00Z"
        assert event.payload["effects"]["total"] == 60

    def test_after_dgr_5377_its_criteria_judge(self, world: World) -> None:
        """DGR n. 5377 of 24 Nov 2025 "updates the criteria again" (goals: innovation and productive
        autonomy "anche sociale", green and digital transition, workforce, internationalisation,
        reshoring, capital strengthening): 59 under them is below the threshold of 60."""
        proposal = submitted_at(world, 2025, 12, 1, 10)
        event = evaluate(world, proposal, DGR_5377)
        assert (event.to_state, event.payload["effects"]["criteria"]["number"]) == ("rejection_pending", 3)
        assert event.payload["effects"]["criteria"]["act"] == "DGR n. 5377 del 24/11/2025"

    def test_the_effective_instant_itself(self, world: World) -> None:
        """DGR n. 1586 takes effect on 18/12/2023 (hour [A] 12:00): at 11:59:59 the 2022 criteria
        judge, at 12:00:00 the new ones."""
        before = submitted_at(world, 2023, 12, 18, 11, 59, 59)
        at = submitted_at(world, 2023, 12, 18, 12, 0, 0)
        assert evaluate(world, before, OLD).payload["effects"]["criteria"]["number"] == 1
        assert evaluate(world, at, DGR_1586).payload["effects"]["criteria"]["number"] == 2


class TestOldCallFiles:
    def test_a_call_without_versions(self, contract_world: World) -> None:
        """A call file written before criteria versions judges every proposal by its one
        `[evaluation]`, under the call's own act (d.d.u.o. n. 2338 del 24/02/2022)."""
        config = call_config(code="MI-OLD-2022")
        config["evaluation"] = {k: v for k, v in config["evaluation"].items() if k not in ("act", "versions")}
        contract_world.open_call(config)
        contract_world.evaluator()
        draft = contract_world.draft(call="MI-OLD-2022")
        contract_world.at(2026, 1, 10, 10)
        contract_world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
        event = evaluate(contract_world, draft, OLD)
        assert event.to_state == "evaluated"
        assert event.payload["effects"]["criteria"]["act"].startswith("d.d.u.o. n. 2338 del 24/02/2022")

    def test_call_data_stored_before_versions(self) -> None:
        """A call stored before versions existed (no `criteria_versions`) has one implicit version."""
        stored = {"act": "d.d.u.o. n. 2338", "evaluation": {"criteria": [{"name": "x"}], "threshold": 6}}
        version = in_force(stored, rome(2026, 1, 1))
        assert (version["number"], version["act"], version["threshold"]) == (1, "d.d.u.o. n. 2338", 6)


class TestConfiguration:
    def test_versions_in_order(self, contract_world: World) -> None:
        """Each act's version takes effect after the one before it; otherwise nothing is stored."""
        config = call_config(code="MI-BAD-2022")
        first, second = config["evaluation"]["versions"]
        config["evaluation"] = {**config["evaluation"], "versions": [second, first]}
        with pytest.raises(InvalidInput) as caught:
            contract_world.engine.create("call", actor="op.rossi", role="operator", payload=config)
        assert caught.value.field == "evaluation.versions.1.effective_at"
        assert [e for e in contract_world.engine.events() if e.entity_id == "MI-BAD-2022"] == []

    def test_a_version_threshold_must_be_reachable(self, contract_world: World) -> None:
        """A version's threshold cannot exceed its maximum score."""
        config = call_config(code="MI-BAD-2023")
        version = {**config["evaluation"]["versions"][0], "threshold": 101}
        config["evaluation"] = {**config["evaluation"], "versions": [version]}
        with pytest.raises(InvalidInput) as caught:
            contract_world.engine.create("call", actor="op.rossi", role="operator", payload=config)
        assert "threshold 101 exceeds the maximum score 100" in str(caught.value)
