"""The recognised-filiera bonus is judged at submission (issue 18.3), under Bando Filiere 2022.

Bando Filiere 2022: "+10 points to recognised filiere, only after reaching the minimum" of 65;
the filiera must have applied to the Manifestazione by 15/09/2022 and be recognised by
15/10/2022; the list (*elenco*) is "approvato e aggiornato con provvedimento del Dirigente".
"""

from __future__ import annotations

import pytest

from tests.factories import World, applicants
from tests.workflow.test_phase2 import Phase2


@pytest.fixture(name="world")
def _world_on_each_backend(contract_world: World) -> World:
    """Every test here runs on SQLite and on PostgreSQL."""
    return contract_world


def _recognised(world: World, owner: str) -> str:
    """A proposal submitted and evaluated on 1 September 2022, listed by decree on 2 September (v1)."""
    world.open_call()
    world.at(2022, 9, 1, 10)
    proposal = world.evaluated(owner)
    world.at(2022, 9, 2, 10)
    world.decree([proposal], act="d.d.u.o. elenco v1")
    return proposal


def test_a_later_withdrawal_does_not_take_the_bonus_away(world: World) -> None:
    """ "+10 points to recognised filiere": listed when the application was submitted, it keeps the 10.

    The proposal is withdrawn, and dropped from the list by the next decree, after the
    application was submitted: the evaluation still adds the bonus, and records that it was
    judged on list version 1.
    """
    proposal = _recognised(world, "cap.kept")
    p2 = Phase2(world, "bando-filiere-2022")
    application = p2.submit(applicants(10, start=7000, main="20000.00"), proposal_id=proposal)
    recognition = p2.engine.get("application", application).data["recognition"]
    assert (recognition["list_version"], recognition["listed"]) == (1, True)
    world.at(2022, 9, 20, 10)
    world.engine.fire("proposal", proposal, "withdraw", actor="cap.kept", role="applicant")
    world.at(2022, 9, 21, 10)
    other = world.evaluated("cap.other")
    world.decree([other], act="d.d.u.o. elenco v2")  # v2 drops the withdrawn proposal
    p2.close()
    event = p2.evaluate(application, 70)
    assert event.payload["effects"] == {"score": 70, "bonus": 10, "total": 80, "list_version": 1}


def test_listed_only_after_the_submission_earns_nothing(world: World) -> None:
    """ "Recognised" means in the list in force when the application is submitted.

    The cited proposal enters the list (version 2) after the application was submitted: no
    bonus, even though it is listed when the application is evaluated; the event names version 1.
    """
    first = _recognised(world, "cap.first")
    world.at(2022, 9, 3, 10)
    late = world.evaluated("cap.late")
    p2 = Phase2(world, "bando-filiere-2022")
    application = p2.submit(applicants(10, start=7100, main="20000.00"), proposal_id=late)
    world.at(2022, 9, 10, 10)
    world.decree([late], act="d.d.u.o. elenco v2")
    assert first != late
    p2.close()
    event = p2.evaluate(application, 70)
    assert event.payload["effects"] == {"score": 70, "bonus": 0, "total": 70, "list_version": 1}


def test_submitted_after_the_listing_earns_it_on_that_version(world: World) -> None:
    """An application submitted after the decree that listed the proposal earns the 10 on that version."""
    _recognised(world, "cap.first")
    world.at(2022, 9, 3, 10)
    late = world.evaluated("cap.second")
    world.at(2022, 9, 4, 10)
    world.decree([late], act="d.d.u.o. elenco v2")
    p2 = Phase2(world, "bando-filiere-2022")
    application = p2.submit(applicants(10, start=7200, main="20000.00"), proposal_id=late)
    p2.close()
    assert p2.evaluate(application, 65).payload["effects"] == {
        "score": 65,
        "bonus": 10,
        "total": 75,
        "list_version": 2,
    }


def test_a_dropped_proposal_cannot_be_cited_at_all(world: World) -> None:
    """Once withdrawn (and dropped by the next decree) the proposal cannot be cited: no bonus to judge."""
    proposal = _recognised(world, "cap.gone")
    world.engine.fire("proposal", proposal, "withdraw", actor="cap.gone", role="applicant")
    p2 = Phase2(world, "bando-filiere-2022")
    assert p2.refused(applicants(10, start=7300, main="20000.00"), proposal_id=proposal).guard == (
        "cited_proposal"
    )
