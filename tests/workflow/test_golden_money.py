"""A golden history of Phase 2's money and order (issue 18): committed, it must replay clean for good.

Written once by ``tests/fixtures/histories/make_phase2_money.py``: a scorrimento chain after a
top-up act and after a partial revocation, a first-come measure that closes itself and shelves
the rest, a bonus judged at submission and kept after the proposal's withdrawal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workflow.audit.export import read_events, read_manifest, verify_file
from workflow.audit.replay import replay

HISTORY = Path(__file__).parent.parent / "fixtures" / "histories" / "phase2-money.jsonl"


def _events() -> list[dict[str, Any]]:
    return list(read_events(HISTORY))


def test_it_replays_clean() -> None:
    """The export verifies and replays, every step legal, under the definitions it names."""
    manifest = read_manifest(HISTORY)
    assert manifest is not None
    assert verify_file(HISTORY).ok
    result = replay(read_events(HISTORY), manifest["definitions"], keep_data=True)
    assert result.ok, result.text()
    states = {key: entity.state for key, entity in result.entities.items() if key[0] == "application"}
    assert states == {
        ("application", "A-000001"): "funded",
        ("application", "A-000002"): "partially_revoked",
        ("application", "A-000003"): "funded",
        ("application", "A-000004"): "funded",
        ("application", "A-000005"): "funded",
        ("application", "A-000006"): "funded",
        ("application", "A-000007"): "funded",
        ("application", "A-000008"): "admitted_not_funded",
        ("application", "A-000009"): "admitted_not_funded",
    }
    measure = result.entities[("measure", "RICERCA-INNOVA-2023")]
    assert (measure.state, measure.data["exhausted"]["remaining"]) == ("closed", "197000.00")


def test_each_funding_of_the_chain_is_caused_by_the_act_or_the_release() -> None:
    """Scorrimento: the top-up funds two, one after another; the release after a revocation one more."""
    events = _events()
    by_seq = {e["seq"]: e for e in events}
    chained = [
        (e["entity_id"], by_seq[e["cause_seq"]]["trigger"])
        for e in events
        if e["trigger"] == "fund" and e["actor"] == "system"
    ]
    assert chained == [("A-000003", "raise_budget"), ("A-000004", "raise_budget"), ("A-000005", "release")]


def test_the_bonus_was_judged_on_list_version_one() -> None:
    """The cited proposal was withdrawn after the submission: the evaluation still gave the 10 points."""
    (evaluation,) = [e for e in _events() if e["trigger"] == "evaluate" and e["entity_id"] == "A-000001"]
    assert evaluation["payload"]["effects"] == {"score": 70, "bonus": 10, "total": 80, "list_version": 1}
