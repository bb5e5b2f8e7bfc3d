"""Property tests: random legal and illegal triggers; illegal ones write nothing; replay matches.

Hypothesis draws a story of steps on two proposals (each owned by its own
applicant) under the shipped 2022 call: submissions by the owner or by a
stranger, integration requests, evaluations above and below the threshold,
withdrawals, expiries, decrees listing whatever is evaluated, and the clock
moving forward across the deadline. Whatever the engine refuses must leave
every table exactly as it was; whatever it accepts must be what a replay of
the log alone rebuilds.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from handlers.timeutil import ROME
from tests.factories import CALL_ID, World, rome
from workflow.audit.compare import compare
from workflow.audit.replay import replay
from workflow.audit.stored import canonical_events, stored_definitions
from workflow.clock import SimulatedClock
from workflow.engine import Engine
from workflow.errors import FiliereError

OWNERS = ("capofila.alfa", "capofila.beta")
TABLES = ("entity", "event", "tree_node", "tree_head", "list_version", "list_entry", "counter")


@contextmanager
def fresh_world(template: Path) -> Iterator[tuple[World, list[str]]]:
    """A new SQLite file (a copy of the migrated template): the call open, an evaluator, two drafts."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.db"
        shutil.copyfile(template, path)
        clock = SimulatedClock(rome(2022, 3, 1, 9))
        engine = Engine(f"sqlite:///{path}", clock=clock)
        try:
            world = World(engine=engine, clock=clock, path=str(path))
            world.open_call()
            world.evaluator("eval.bianchi")
            drafts = [
                world.draft(owner, partnership=world.partnership(owner, start=1 + 20 * i))
                for i, owner in enumerate(OWNERS)
            ]
            yield world, drafts
        finally:
            engine.db.dispose()


def tables(world: World) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the engine writes, for before/after comparison."""
    with sqlite3.connect(world.path) as connection:
        return {t: sorted(connection.execute(f"SELECT * FROM {t}").fetchall()) for t in TABLES}


def _submit(actor: str, role: str) -> Step:
    return lambda w, p, owner: w.engine.fire("proposal", p, "submit", actor=actor or owner, role=role)


def _request_integration(reason: str) -> Step:
    def step(world: World, proposal: str, _owner: str) -> None:
        due = world.clock.now().astimezone(ROME).replace(tzinfo=None) + timedelta(days=10)
        payload = {"reason": reason, "due": due.isoformat(timespec="minutes")}
        world.engine.fire(
            "proposal", proposal, "request_integration", actor="op.rossi", role="operator", payload=payload
        )

    return step


def _evaluate(high: bool, role: str = "evaluator") -> Step:
    def step(world: World, proposal: str, owner: str) -> None:
        actor = owner if role == "applicant" else "eval.bianchi"
        payload = {"scores": world.scores(high)}
        world.engine.fire("proposal", proposal, "evaluate", actor=actor, role=role, payload=payload)

    return step


def _fire(trigger: str, actor: str, role: str, payload: dict[str, Any] | None = None) -> Step:
    return lambda w, p, owner: w.engine.fire(
        "proposal", p, trigger, actor=actor or owner, role=role, payload=payload
    )


def _decree(world: World, _proposal: str, _owner: str) -> None:
    """A draft decree listing whatever is evaluated or listed now (refused when that is nothing)."""
    chosen = [p.id for p in world.engine.entities("proposal", states=("evaluated", "listed"))]
    payload = {"call_id": CALL_ID, "act": "d.d.u.o.", "proposal_ids": chosen}
    world.engine.create("decree", actor="dir.verdi", role="director", payload=payload)


def _approve(world: World, _proposal: str, _owner: str) -> None:
    """Approve the newest draft decree (a decree that does not exist when there is none)."""
    drafts = world.engine.entities("decree", states=("draft",))
    target = drafts[-1].id if drafts else "D-999999"
    world.engine.fire("decree", target, "approve", actor="dir.verdi", role="director")


Step = Callable[[World, str, str], object]
#: What a step may try: "" as actor means the proposal's owner.
ACTIONS: dict[str, Step] = {
    "submit": _submit("", "applicant"),
    "submit_by_stranger": _submit("someone.else", "applicant"),
    "submit_as_operator": _submit("op.rossi", "operator"),
    "request_integration": _request_integration("Manca l'accordo firmato"),
    "request_integration_without_reason": _request_integration(""),
    "integrate": _fire("integrate", "", "applicant", {"note": "Accordo firmato allegato"}),
    "evaluate_high": _evaluate(high=True),
    "evaluate_low": _evaluate(high=False),
    "evaluate_as_applicant": _evaluate(high=True, role="applicant"),
    "withdraw": _fire("withdraw", "", "applicant"),
    "expire": _fire("expire", "system", "system"),
    "declare_inadmissible": _fire(
        "declare_inadmissible", "op.rossi", "operator", {"reason": "Sede fuori regione"}
    ),
    "list_without_decree": _fire("list", "dir.verdi", "director", {"decree_id": "D-9"}),
    "fund_without_application": _fire("fund", "system", "system", {"application_id": "A-9"}),
    "decree": _decree,
    "approve": _approve,
}
#: The steps that make a story move are drawn more often than the ones that are always refused.
WEIGHTED = (
    *ACTIONS,
    "submit",
    "submit",
    "evaluate_high",
    "evaluate_high",
    "decree",
    "approve",
    "approve",
    "integrate",
)

steps = st.lists(
    st.tuples(
        st.sampled_from(WEIGHTED),
        st.integers(min_value=0, max_value=len(OWNERS) - 1),
        st.integers(min_value=0, max_value=24 * 20),  # hours the clock moves first (up to 20 days)
    ),
    min_size=5,
    max_size=30,
)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(story=steps)
def test_illegal_steps_write_nothing_and_replay_matches(
    sqlite_template: Path, story: list[tuple[str, int, int]]
) -> None:
    """Refused steps change no row; the log alone rebuilds the accepted ones, all legal."""
    with fresh_world(sqlite_template) as (world, drafts):
        accepted = 0
        for action, index, hours in story:
            world.clock.set(world.clock.now() + timedelta(hours=hours))
            before = tables(world)
            try:
                ACTIONS[action](world, drafts[index], OWNERS[index])
            except FiliereError as refusal:
                assert tables(world) == before, f"{action} was refused but wrote"
                event(f"refused {action}: {type(refusal).__name__}")
            else:
                accepted += 1
                event(f"accepted {action}")
        db = world.engine.db
        result = compare(db, replay(canonical_events(db), stored_definitions(db)))
        assert result.ok, result.text()
        assert result.events == len(list(world.engine.events()))
