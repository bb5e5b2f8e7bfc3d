"""Several real processes on one database: races, one budget, 1,000 submissions, one key.

Each worker is a process of its own with its own engine, started together behind a
barrier. They run on a SQLite file (WAL, BEGIN IMMEDIATE) and on PostgreSQL.
The workers are forked from a fork server that imported this module once (not
from the test process, so they inherit no connection): a spawned interpreter
re-imports the whole stack, about a second of CPU per worker.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.factories import CALL_ID, World, applicants
from workflow.audit.verify import verify_chain
from workflow.clock import SimulatedClock
from workflow.engine import Engine
from workflow.errors import FiliereError, GuardRefused

pytestmark = pytest.mark.slow
PROCESSES = 8
FORK_SERVER = multiprocessing.get_context("forkserver")
FORK_SERVER.set_forkserver_preload([__name__])


def _engine(target: dict[str, Any], moment: datetime) -> Engine:
    from workflow.store.db import make_engine

    clock = SimulatedClock(moment)
    if target["url"]:
        return Engine(db=make_engine(target["url"], connect_args=target["connect_args"]), clock=clock)
    return Engine(f"sqlite:///{target['path']}", clock=clock)


def _target(world: World) -> dict[str, Any]:
    return {"url": world.url, "connect_args": world.connect_args or {}, "path": world.path}


def _run(worker: Any, jobs: list[tuple[Any, ...]]) -> list[Any]:
    """Start one process per job behind a barrier; return their results."""
    barrier, results = FORK_SERVER.Barrier(len(jobs)), FORK_SERVER.Queue()
    processes = [FORK_SERVER.Process(target=worker, args=(barrier, results, *job)) for job in jobs]
    for process in processes:
        process.start()
    collected = [results.get(timeout=240) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return collected


# --- workers (module level, so that spawned processes can import them) ------


def race_worker(barrier: Any, results: Any, target: dict[str, Any], moment: datetime, proposal: str) -> None:
    engine = _engine(target, moment)
    barrier.wait()
    try:
        engine.fire(
            "proposal", proposal, "submit", actor="capofila.alfa", role="applicant", expected_version=1
        )
        results.put("won")
    except FiliereError as exc:
        results.put(type(exc).__name__)
    finally:
        engine.db.dispose()


def key_worker(barrier: Any, results: Any, target: dict[str, Any], moment: datetime, proposal: str) -> None:
    engine = _engine(target, moment)
    barrier.wait()
    try:
        event = engine.fire(
            "proposal", proposal, "submit", actor="capofila.alfa", role="applicant", idempotency_key="one-key"
        )
        results.put(event.seq)
    except FiliereError as exc:
        results.put(type(exc).__name__)
    finally:
        engine.db.dispose()


def submit_worker(
    barrier: Any, results: Any, target: dict[str, Any], moment: datetime, work: tuple[str, list[str]]
) -> None:
    engine = _engine(target, moment)
    barrier.wait()
    done = []
    try:
        owner, drafts = work
        for draft in drafts:
            done.append(engine.fire("proposal", draft, "submit", actor=owner, role="applicant").seq)
        results.put(len(done))
    except FiliereError as exc:
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        engine.db.dispose()


def fund_worker(
    barrier: Any, results: Any, target: dict[str, Any], moment: datetime, application: str
) -> None:
    engine = _engine(target, moment)
    barrier.wait()
    outcome = "gave up"
    try:
        for _ in range(400):  # first-come: wait for the earlier protocols to be decided
            try:
                engine.fire("application", application, "fund", actor="dir.verdi", role="director")
                outcome = "funded"
                break
            except GuardRefused as exc:
                if exc.guard == "budget_left":
                    engine.fire("application", application, "shelve", actor="dir.verdi", role="director")
                    outcome = "shelved"
                    break
                if (
                    engine.get("measure", engine.get("application", application).data["measure_id"]).state
                    == "closed"
                ):
                    outcome = "exhausted before its turn"
                    break
                time.sleep(0.01)
    except FiliereError as exc:
        outcome = type(exc).__name__
    finally:
        engine.db.dispose()
    results.put(outcome)


# --- tests --------------------------------------------------------------------


@pytest.fixture(name="world")
def _world_on_each_backend(contract_world: World) -> World:
    return contract_world


class TestProcesses:
    def test_race_on_one_proposal(self, world: World) -> None:
        """Eight processes submit one proposal: exactly one wins, the others get a conflict, one event."""
        world.open_call()
        world.at(2022, 9, 10, 11)
        draft = world.draft()
        results = _run(race_worker, [(_target(world), world.clock.now(), draft)] * PROCESSES)
        assert Counter(results)["won"] == 1
        assert set(results) <= {"won", "VersionConflict", "TransitionNotAllowed"}
        assert [e.trigger for e in world.engine.history("proposal", draft)] == ["create", "submit"]
        assert verify_chain(world.engine.db).ok

    def test_same_key_from_many_processes(self, world: World) -> None:
        """One idempotency key fired by eight processes at once writes one event; all get it."""
        world.open_call()
        world.at(2022, 9, 10, 11)
        draft = world.draft()
        results = _run(key_worker, [(_target(world), world.clock.now(), draft)] * PROCESSES)
        submits = [e for e in world.engine.history("proposal", draft) if e.trigger == "submit"]
        assert len(submits) == 1
        assert results == [submits[0].seq] * PROCESSES

    def test_thousand_submissions(self, world: World) -> None:
        """Eight processes submit 1,000 proposals: protocol numbers 1..1000, no gap, chain valid."""
        world.open_call()
        world.at(2022, 9, 10, 11)
        owners = [f"capofila.{n}" for n in range(PROCESSES)]
        partnerships = {o: world.partnership(o, start=100 * n + 1) for n, o in enumerate(owners)}
        drafts = {o: [world.draft(o, partnership=partnerships[o]) for _ in range(125)] for o in owners}
        results = _run(submit_worker, [(_target(world), world.clock.now(), (o, drafts[o])) for o in owners])
        assert results == [125] * PROCESSES
        numbers = sorted(p.data["protocol_number"] for p in world.engine.find("proposal", parent_id=CALL_ID))
        assert numbers == list(range(1, 1001))
        report = verify_chain(world.engine.db)
        assert report.ok
        assert report.events == len(list(world.engine.events()))

    def test_sealing_while_eight_processes_write(self, world: World) -> None:
        """8 writers on distinct proposals, a feed read meanwhile: every event sealed once, in one order.

        Positions run 1..n without a gap, the feed (read while the writers run,
        resuming after the last position it saw) delivered each event exactly
        once in sealed order, and verify rebuilds the stored tree.
        """
        import threading

        world.open_call()
        world.at(2022, 9, 10, 11)
        owners = [f"capofila.{n}" for n in range(PROCESSES)]
        partnerships = {o: world.partnership(o, start=100 * n + 1) for n, o in enumerate(owners)}
        drafts = {o: [world.draft(o, partnership=partnerships[o]) for _ in range(40)] for o in owners}
        seen: list[tuple[int | None, int]] = []
        done = threading.Event()

        def follow() -> None:
            cursor = 0
            while True:
                finished = done.is_set()
                for event in world.engine.events(after=cursor):
                    seen.append((event.position, event.seq))
                    cursor = int(event.position or 0)
                if finished:
                    return
                time.sleep(0.05)

        reader = threading.Thread(target=follow)
        reader.start()
        try:
            results = _run(
                submit_worker, [(_target(world), world.clock.now(), (o, drafts[o])) for o in owners]
            )
        finally:
            done.set()
            reader.join()
        assert results == [40] * PROCESSES
        every = list(world.engine.events())
        assert [e.position for e in every] == list(range(1, len(every) + 1))
        assert seen == [(e.position, e.seq) for e in every]
        report = verify_chain(world.engine.db)
        assert (report.ok, report.tree_size, report.unsealed) == (True, len(every), 0)

    def test_one_budget_many_processes(self, world: World) -> None:
        """Eight processes fund from one budget: never over-committed, reservations equal the awards."""
        from tests.workflow.test_phase2 import Phase2

        p2 = Phase2(world, "ricerca-e-innova-2023", budget="550000.00")
        apps = [p2.submit(applicants(1, start=7000 + i, main="100000.00")) for i in range(PROCESSES)]
        for application in apps:
            p2.evaluate(application, 80)
        results = _run(fund_worker, [(_target(world), world.clock.now(), a) for a in apps])
        budget, reserved = p2.ledger()
        funded = [a for a in world.engine.find("application", parent_id=p2.code) if a.state == "funded"]
        assert budget == Decimal("550000.00")
        assert reserved == Decimal("500000.00") == sum(Decimal(a.data["award"]["base"]) for a in funded)
        assert Counter(results)["funded"] == 5
        assert world.engine.get("measure", p2.code).state == "closed"
        assert verify_chain(world.engine.db).ok
