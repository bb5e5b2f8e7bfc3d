"""A first-come measure closes itself (issue 18.2), under Ricerca e Innova 2023's real figures.

Budget 27,197,000.00, "procedura valutativa a sportello, chronological order of submission",
aid 100% of eligible costs, at most 1,000,000.00: 27 applications of 1,000,000.00 leave 197,000.00.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import World, applicants
from tests.workflow.test_phase2 import Phase2
from workflow.errors import GuardRefused


@pytest.fixture(name="world")
def _world_on_each_backend(contract_world: World) -> World:
    """Every test here runs on SQLite and on PostgreSQL."""
    return contract_world


def _sportello(world: World, costs: list[str], evaluated: int | None = None) -> tuple[Phase2, list[str]]:
    """Ricerca e Innova with one SME per application, ``costs`` in arrival order, the first ``evaluated``."""
    p2 = Phase2(world, "ricerca-e-innova-2023")
    apps = [p2.submit(applicants(1, start=9000 + i, main=cost)) for i, cost in enumerate(costs)]
    for application in apps[: len(apps) if evaluated is None else evaluated]:
        p2.evaluate(application, 80)
    return p2, apps


def test_the_measure_closes_when_what_is_left_cannot_fund_the_next(world: World) -> None:
    """Act: "until exhausted", "chronological order of submission".

    When what is left (197,000.00 after 27 fundings of 1,000,000.00) cannot fund the next
    application in arrival order (1,000,000.00), the measure closes by itself, its event naming
    the amount left, and the remaining admitted applications are shelved, each by its own event
    caused by the closing, even the one behind that would have fitted (arrival order).
    """
    p2, apps = _sportello(world, ["1000000.00"] * 28 + ["100000.00"])
    for application in apps[:26]:
        p2.fund(application)
    assert p2.engine.get("measure", p2.code).state == "open"
    last = p2.fund(apps[26])
    (closing,) = [e for e in p2.engine.events(after=last.seq) if e.trigger == "close"]
    assert (closing.entity_id, closing.actor, closing.to_state) == (p2.code, "system", "closed")
    assert (
        closing.payload["input"]["reason"]
        == f"budget exhausted: 197.000,00 € left, {apps[27]} needs 1.000.000,00 €"
    )
    assert closing.payload["effects"]["remaining"] == "197000.00"
    shelved = [e for e in p2.engine.events(after=closing.seq) if e.trigger == "shelve"]
    assert [(e.entity_id, e.cause_seq, e.to_state) for e in shelved] == [
        (apps[27], closing.seq, "admitted_not_funded"),
        (apps[28], closing.seq, "admitted_not_funded"),
    ]
    assert p2.ledger() == (Decimal("27197000.00"), Decimal("27000000.00"))
    with pytest.raises(GuardRefused, match="is closed"):
        p2.submit(applicants(1, start=9100, main="80000.00"))


def test_an_application_still_being_evaluated_comes_first(world: World) -> None:
    """ "In chronological order": the next in arrival order is still under evaluation, so nothing closes.

    Once it is admitted and does not fit, its admission closes the measure and shelves it.
    """
    p2, apps = _sportello(world, ["1000000.00"] * 28, evaluated=27)
    for application in apps[:27]:
        p2.fund(application)
    assert p2.engine.get("measure", p2.code).state == "open"
    admission = p2.evaluate(apps[27], 80)
    assert p2.engine.get("measure", p2.code).state == "closed"
    history = p2.engine.history("application", apps[27])
    assert [e.trigger for e in history][-2:] == ["evaluate", "shelve"]
    assert [e.entity_id for e in p2.engine.events(after=admission.seq) if e.trigger == "close"] == [p2.code]


def test_admitted_after_the_closing_is_shelved(world: World) -> None:
    """An application admitted after its first-come measure closed as exhausted is left unfunded at once."""
    p2, apps = _sportello(world, ["1000000.00"] * 27 + ["1000000.00", "80000.00"], evaluated=28)
    for application in apps[:27]:
        p2.fund(application)
    assert p2.engine.get("measure", p2.code).state == "closed"
    assert p2.engine.get("application", apps[27]).state == "admitted_not_funded"
    p2.evaluate(apps[28], 80)
    assert p2.engine.get("application", apps[28]).state == "admitted_not_funded"


def test_a_release_after_the_closing_funds_in_arrival_order(world: World) -> None:
    """Scorrimento also serves a closed first-come measure: a renunciation funds the shelved in order."""
    p2, apps = _sportello(world, ["1000000.00"] * 28 + ["100000.00"])
    for application in apps[:27]:
        p2.fund(application)
    owner = p2.engine.get("application", apps[3]).data["owner"]
    renounce = p2.engine.fire("application", apps[3], "renounce", actor=owner, role="applicant")
    funded = [e.entity_id for e in p2.engine.events(after=renounce.seq) if e.trigger == "fund"]
    assert funded == [apps[27], apps[28]]  # 1,197,000.00 left: 1,000,000.00 then 100,000.00
    assert p2.ledger()[1] == Decimal("27100000.00")
