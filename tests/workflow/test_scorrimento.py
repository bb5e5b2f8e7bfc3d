"""Scorrimento runs until the money runs out (issue 18.1), under Bando Filiere 2022's real figures.

Budget 4,000,000.00, a further 1,000,000.00 added in 2023, grant 50% of an SME's admitted costs
and at most 400,000.00 per project: ten partners spending 80,000.00 each get 400,000.00.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import World, applicants
from tests.workflow.test_phase2 import Phase2, unlead
from workflow.engine import Engine


@pytest.fixture(name="world")
def _world_on_each_backend(contract_world: World) -> World:
    """Every test here runs on SQLite and on PostgreSQL."""
    return contract_world


class Ranking:
    """A closed, evaluated Bando Filiere 2022 with the first ten applications funded (4,000,000.00)."""

    def __init__(self, world: World, waiting: list[tuple[int, str]]) -> None:
        self.p2 = Phase2(world, "bando-filiere-2022")
        self.engine: Engine = world.engine
        self.scores: dict[str, int] = {}
        self.funded = [self._apply(95, "80000.00", 8000 + 20 * i) for i in range(10)]
        self.waiting = [self._apply(score, each, 8400 + 20 * i) for i, (score, each) in enumerate(waiting)]
        self.p2.close()
        for application, score in self.scores.items():
            self.p2.evaluate(application, score)
        for application in self.funded:
            self.p2.fund(application)
        assert self.p2.ledger() == (Decimal("4000000.00"), Decimal("4000000.00"))

    def _apply(self, score: int, each: str, start: int) -> str:
        application = self.p2.submit(applicants(10, start=start, main=each))
        self.scores[application] = score
        return application

    def state(self, application: str) -> str:
        return self.engine.get("application", application).state

    def fundings_caused_by(self, seq: int) -> list[str]:
        return [
            e.entity_id
            for e in self.engine.events(after=seq - 1)
            if e.trigger == "fund" and e.cause_seq == seq
        ]


def test_a_top_up_funds_the_next_in_rank_while_the_next_fits(world: World) -> None:
    """Act: "+EUR 1,000,000 added in 2023"; scorrimento "funds the next applicant when money frees up".

    The 1,000,000.00 funds the next admitted applications in rank order, one after another, while
    the next one fits: two of 400,000.00; the third (400,000.00) does not fit in the 200,000.00
    left, so it is not funded, and neither is the smaller one ranked after it (no skipping, no
    partial grant). A tie in score goes to the earlier protocol. Each funding is its own event,
    caused by the act.
    """
    ranking = Ranking(
        world, [(80, "80000.00"), (80, "80000.00"), (75, "80000.00"), (70, "20000.00")]
    )  # first, tie second, third (does not fit), a 100,000.00 one behind it
    tie_first, tie_second, third, small = ranking.waiting
    act = ranking.engine.fire(
        "measure",
        ranking.p2.code,
        "raise_budget",
        actor="dir.verdi",
        role="director",
        payload={"amount": "1000000.00", "act": "D.O. Unioncamere 2023"},
    )
    assert ranking.fundings_caused_by(act.seq) == [tie_first, tie_second]
    assert [ranking.state(a) for a in (third, small)] == ["admitted", "admitted"]
    assert ranking.p2.ledger() == (Decimal("5000000.00"), Decimal("4800000.00"))
    for application in (tie_first, tie_second):
        funding = ranking.engine.history("application", application)[-1]
        assert (funding.actor, funding.role, funding.cause_seq) == ("system", "system", act.seq)


def test_a_release_funds_as_many_as_it_covers(world: World) -> None:
    """ "Scorrimento (della graduatoria) … funds the next applicant when money frees up": a revocation.

    A total revocation of 400,000.00 funds the next two admitted applications (200,000.00 each),
    already shelved or still admitted, in rank order; each funding is caused by the release.
    """
    ranking = Ranking(world, [(90, "40000.00"), (85, "40000.00"), (60, "80000.00")])
    first, second, _ = ranking.waiting
    ranking.engine.fire("application", first, "shelve", actor="dir.verdi", role="director")
    revoke = ranking.engine.fire(
        "application",
        ranking.funded[3],
        "revoke",
        actor="dir.verdi",
        role="director",
        payload={"reason": "decadenza"},
    )
    (release,) = [e for e in ranking.engine.events(after=revoke.seq) if e.trigger == "release"]
    assert release.cause_seq == revoke.seq
    assert ranking.fundings_caused_by(release.seq) == [first, second]
    assert ranking.p2.ledger() == (Decimal("4000000.00"), Decimal("4000000.00"))


def test_a_release_that_covers_nobody_funds_nobody(world: World) -> None:
    """No partial grant: 300,000.00 released by a partial revocation; the next needs 400,000.00."""
    ranking = Ranking(world, [(90, "80000.00")])
    ranking.engine.fire(
        "application",
        ranking.funded[9],
        "revoke",
        actor="dir.verdi",
        role="director",
        payload={"reason": "spese non ammissibili", "amount": "300000.00"},
    )
    assert ranking.state(ranking.waiting[0]) == "admitted"
    assert ranking.p2.ledger()[1] == Decimal("3700000.00")


def test_no_scorrimento_before_the_ranking_is_final(world: World) -> None:
    """A ranked measure funds only on its final ranking: a top-up while the window is open funds nobody."""
    p2 = Phase2(world, "bando-filiere-2022", budget="400000.00")
    application = p2.submit(applicants(10, start=8900, main="20000.00"))
    p2.evaluate(application, 90)
    event = p2.engine.fire(
        "measure",
        p2.code,
        "raise_budget",
        actor="dir.verdi",
        role="director",
        payload={"amount": "1000000.00", "act": "D.O. 2023"},
    )
    assert event.payload["effects"]["remaining"] == "1400000.00"
    assert p2.engine.get("application", application).state == "admitted"


def test_one_grant_per_company_stops_the_chain(world: World) -> None:
    """ "A ciascuna impresa può essere concessa una sola agevolazione": the chain stops, the release stands.

    The next in rank shares a company with a funded project, so it cannot be funded; the
    renunciation still goes through and nobody behind it is funded over its head.
    """
    p2 = Phase2(world, "bando-filiere-2022", budget="800000.00")
    team_a = applicants(10, start=8600, main="80000.00")
    a = p2.submit(team_a)
    b = p2.submit(applicants(10, start=8620, main="80000.00"))
    c = p2.submit(unlead([*applicants(9, start=8640, main="80000.00"), dict(team_a[5])]))
    d = p2.submit(applicants(10, start=8660, main="80000.00"))
    p2.close()
    for application, score in ((a, 90), (b, 85), (c, 80), (d, 75)):
        p2.evaluate(application, score)
    p2.fund(a)
    p2.fund(b)
    owner = p2.engine.get("application", b).data["owner"]
    p2.engine.fire("application", b, "renounce", actor=owner, role="applicant")
    assert [p2.engine.get("application", x).state for x in (b, c, d)] == ["renounced", "admitted", "admitted"]
    assert p2.ledger() == (Decimal("800000.00"), Decimal("400000.00"))
