"""The real APScheduler firing deadlines and windows through the engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from handlers.timeutil import ROME
from scheduler.plan import plan
from scheduler.service import SchedulerService
from tests.factories import CALL_ID, World, call_config, partners
from workflow import AlreadyRunning, Engine
from workflow.clock import SystemClock

FILIERE = str(Path(sys.executable).parent / "filiere")


def local(moment: datetime) -> str:
    """A Europe/Rome local time with seconds, as call files write it."""
    return moment.astimezone(ROME).strftime("%Y-%m-%dT%H:%M:%S")


def soon_call(opens_in: float, closes_in: float) -> tuple[dict[str, Any], datetime, datetime]:
    """A call opening and closing a few seconds from now (whole seconds)."""
    now = datetime.now(UTC).replace(microsecond=0)
    opens, deadline = now + timedelta(seconds=opens_in), now + timedelta(seconds=closes_in)
    config = call_config(opens_at=local(opens), deadline={"at": local(deadline), "act": "avviso"})
    return config, opens, deadline


def until(condition: Callable[[], bool], seconds: float = 15) -> None:
    """Wait for ``condition`` (polling), or fail."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail("timed out waiting")


@pytest.fixture(name="live")
def _live(db_path: Path) -> Iterator[Engine]:
    """An engine on the real clock (APScheduler runs on real time)."""
    engine = Engine(f"sqlite:///{db_path}", clock=SystemClock())
    yield engine
    engine.db.dispose()


def seed(engine: Engine, config: dict[str, Any]) -> list[str]:
    """The call, and two drafts under it, made while it is scheduled."""
    engine.create("call", actor="op.rossi", role="operator", payload=config)
    drafts = []
    for n, owner in enumerate(("cap.a", "cap.b")):
        pid = engine.create(
            "partnership",
            actor=owner,
            role="applicant",
            payload={"name": "F", "agreement": "A", "partners": partners(10, start=50 * n + 1)},
        ).entity_id
        drafts.append(
            engine.create(
                "proposal",
                actor=owner,
                role="applicant",
                payload={
                    "call_id": CALL_ID,
                    "partnership_id": pid,
                    "title": "T",
                    "summary": "S",
                    "areas": ["a"],
                },
            ).entity_id
        )
    return drafts


def outcome(engine: Engine) -> list[tuple[Any, ...]]:
    """What the scheduler made happen, by effective time (the wall-clock time of a catch-up differs)."""
    # Sorted: the expiry jobs after a close run concurrently, in any order.
    return sorted(
        (e.entity_kind, e.entity_id, e.trigger, e.to_state, e.effective_at)
        for e in engine.events()
        if e.actor == "system"
    )


def settled(engine: Engine) -> bool:
    """The call is closed and no draft is left under it."""
    return engine.get("call", CALL_ID).state == "closed" and not engine.find(
        "proposal", parent_id=CALL_ID, state="draft"
    )


class TestOnTime:
    def test_open_and_close_fire_on_time(self, live: Engine) -> None:
        """The call opens at its opening and closes just after its deadline; drafts expire at the deadline.

        The close is one event; each remaining draft then expires by its own job, right after it.
        """
        config, opens, deadline = soon_call(2, 4)
        drafts = seed(live, config)
        service = SchedulerService(live, reconcile_every=60)
        service.start(wait_for_lead=False)
        try:
            until(lambda: settled(live))
        finally:
            service.stop()
        opened, closed = (e for e in live.history("call", CALL_ID) if e.trigger in ("open", "close"))
        assert (opened.actor, opened.effective_at) == ("system", opens)
        assert (closed.actor, closed.effective_at) == ("system", deadline)
        assert timedelta(0) < closed.occurred_at - deadline < timedelta(seconds=1)
        for draft in drafts:
            expiry = live.history("proposal", draft)[-1]
            assert (expiry.trigger, expiry.effective_at, expiry.actor) == ("expire", deadline, "system")
            assert expiry.seq > closed.seq
            assert expiry.occurred_at - deadline < timedelta(seconds=1)

    def test_reconciled_after_an_extension(self, live: Engine) -> None:
        """An extension act moves the close job: nothing closes at the old deadline."""
        config, _, deadline = soon_call(0, 3)
        seed(live, config)
        service = SchedulerService(live, reconcile_every=60)
        service.start(wait_for_lead=False)
        try:
            until(lambda: live.get("call", CALL_ID).state == "open")
            moved = deadline + timedelta(seconds=3)
            live.fire(
                "call",
                CALL_ID,
                "extend",
                actor="dir.verdi",
                role="director",
                payload={"at": local(moved), "act": "DGR di proroga"},
            )
            time.sleep((deadline - datetime.now(UTC)).total_seconds() + 1)
            assert live.get("call", CALL_ID).state == "open"
            until(lambda: live.get("call", CALL_ID).state == "closed")
        finally:
            service.stop()
        assert live.history("call", CALL_ID)[-1].effective_at == moved


class TestDowntime:
    def test_catch_up_gives_the_same_events(self, tmp_path: Path) -> None:
        """A scheduler started after the deadline closes with the same events as one that ran."""
        config, _, deadline = soon_call(1, 2)
        results = []
        for name, start_after in (("ran", False), ("was-down", True)):
            engine = Engine(f"sqlite:///{tmp_path / name}.db", clock=SystemClock())
            seed(engine, {**config})
            if start_after:
                time.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 1.5)
            service = SchedulerService(engine, reconcile_every=60)
            service.start(wait_for_lead=False)
            try:
                until(lambda e=engine: settled(e))  # type: ignore[misc]
            finally:
                service.stop()
            results.append(outcome(engine))
            engine.db.dispose()
        assert results[0] == results[1]
        assert sorted(r[2] for r in results[1] if r[0] != "call") == ["expire", "expire"]
        assert ("call", CALL_ID, "close", "closed", deadline) in results[1]

    def test_firing_twice_changes_nothing(self, live: Engine) -> None:
        """A job fired again returns the first event and writes nothing."""
        config, _, _ = soon_call(-5, -1)
        config["opens_at"] = local(datetime.now(UTC) - timedelta(seconds=5))
        seed(live, config)
        service = SchedulerService(live)
        jobs = plan(live)
        assert [j.trigger for j in jobs] == ["open"]
        first = service.fire(jobs[0])
        again = service.fire(jobs[0])
        assert first is not None
        assert again is not None
        assert (again.seq, again.replayed) == (first.seq, True)
        assert len(list(live.events())) == first.seq


class TestPlan:
    def test_plan_follows_the_domain(self, world: World) -> None:
        """Jobs are derived from the tables: opening, deadline in force, integration due dates."""
        world.engine.create("call", actor="op.rossi", role="operator", payload=call_config())
        assert [(j.trigger, j.run_at) for j in plan(world.engine)] == [
            ("open", datetime(2022, 3, 1, 8, tzinfo=UTC))
        ]
        world.at(2022, 3, 1, 9)
        world.engine.fire("call", CALL_ID, "open", actor="system", role="system")
        world.at(2022, 12, 1)
        proposal = world.submitted()
        world.engine.fire(
            "proposal",
            proposal,
            "request_integration",
            actor="op.rossi",
            role="operator",
            payload={"reason": "x"},
        )
        jobs = {(j.kind, j.trigger): j for j in plan(world.engine)}
        assert jobs["call", "close"].effective_at == datetime(
            2023, 12, 31, 15, tzinfo=UTC
        )  # extension in force
        assert jobs["proposal", "lapse"].effective_at == datetime(2022, 12, 11, 0, tzinfo=UTC) - timedelta(
            hours=1
        )


class TestOneScheduler:
    def test_second_scheduler_on_sqlite_refuses(self, live: Engine, db_path: Path) -> None:
        """On SQLite a second scheduler on the same file refuses to start, saying who holds it."""
        first = SchedulerService(live)
        first.start(wait_for_lead=False)
        try:
            other = Engine(f"sqlite:///{db_path}", clock=SystemClock())
            with pytest.raises(AlreadyRunning, match=f"held by process {os.getpid()}"):
                SchedulerService(other).start(wait_for_lead=False)
            other.db.dispose()
            result = subprocess.run(
                [FILIERE, "--db", f"sqlite:///{db_path}", "scheduler", "run"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 13
            assert "another scheduler is running" in result.stderr
        finally:
            first.stop()

    @pytest.mark.slow
    def test_standby_takes_over_on_postgres(self, pg_url: str, pg_schema: dict[str, str]) -> None:
        """Two real PostgreSQL processes: the standby leads once the leader is killed, and closes the call."""
        url = f"{pg_url}?options={pg_schema['options'].replace('=', '%3D')}"
        env = {**os.environ, "FILIERE_DATABASE_URL": url}
        subprocess.run([FILIERE, "init"], env=env, check=True, capture_output=True, timeout=60)
        run = [FILIERE, "--log-json", "scheduler", "run", "--reconcile-every", "1", "--health-every", "1"]
        leader = subprocess.Popen(run, env=env, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        _wait_for_line(leader, "scheduler leading", lines)
        standby = subprocess.Popen(run, env=env, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for_line(standby, "scheduler waiting for the lead", lines)
            leader.send_signal(signal.SIGKILL)
            leader.wait(timeout=10)
            _wait_for_line(standby, "scheduler leading", lines)
            from workflow.store.db import make_engine

            engine = Engine(db=make_engine(pg_url, connect_args=pg_schema), clock=SystemClock())
            config, _, _ = soon_call(1, 3)
            seed(engine, config)
            until(lambda: engine.get("call", CALL_ID).state == "closed", seconds=20)
            assert engine.history("call", CALL_ID)[-1].actor == "system"
            engine.db.dispose()
        finally:
            standby.send_signal(signal.SIGTERM)
            code = standby.wait(timeout=20)
            leader.kill()
            leader.wait()
            for process in (leader, standby):
                assert process.stderr is not None
                process.stderr.close()
        assert code == 0  # a clean shutdown on SIGTERM


def _wait_for_line(process: subprocess.Popen[str], event: str, seen: list[str]) -> None:
    """Read a process's JSON log lines until one has ``event``."""
    assert process.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            pytest.fail(f"process ended before {event!r}: {seen[-5:]}")
        seen.append(line)
        try:
            if json.loads(line).get("event") == event:
                return
        except ValueError:
            continue
    pytest.fail(f"no {event!r} within 30 s")


class TestMeasurePlan:
    def test_measure_windows(self, world: World) -> None:
        """Planned measures open with their window; open ones close after its end, if it has one."""
        from tests.factories import measure_config

        world.engine.create("measure", actor="op.rossi", role="operator", payload=measure_config())
        world.engine.create(
            "measure", actor="op.rossi", role="operator", payload=measure_config("rafforzamento-filiere-2024")
        )
        jobs = {(j.entity_id, j.trigger): j for j in plan(world.engine)}
        assert jobs["FILIERE-2022", "open"].run_at == datetime(2022, 9, 5, 9, tzinfo=UTC)
        assert jobs["FILIERE-2024", "open"].run_at == datetime(2024, 3, 28, 14, tzinfo=UTC)
        world.at(2024, 3, 28, 16)
        for code in ("FILIERE-2022", "FILIERE-2024"):
            world.engine.fire("measure", code, "open", actor="system", role="system")
        jobs = {(j.entity_id, j.trigger): j for j in plan(world.engine)}
        assert set(jobs) == {("FILIERE-2022", "close")}
        closing = jobs["FILIERE-2022", "close"]
        assert closing.effective_at == datetime(2022, 10, 17, 15, tzinfo=UTC)
        assert closing.run_at - closing.effective_at == timedelta(milliseconds=1)


class TestShutdown:
    def test_stop_while_a_job_reconciles(self, live: Engine) -> None:
        """A job that reconciles (a close plans the expiries) while the scheduler stops: no deadlock.

        APScheduler 3 holds its job-store lock while shutdown waits for running jobs; a
        reconcile reaching the job store then would wait forever. The job here is held
        until the shutdown is under way, then reconciles.
        """
        import threading

        service = SchedulerService(live, reconcile_every=3600)
        service.start(wait_for_lead=False)
        running, go = threading.Event(), threading.Event()

        def job_that_reconciles() -> None:
            running.set()
            go.wait(10)
            service.reconcile()

        service.scheduler.add_job(job_that_reconciles, "date", run_date=datetime.now(UTC), id="held")
        assert running.wait(10)
        stopper = threading.Thread(target=service.stop)
        stopper.start()
        time.sleep(0.3)  # the shutdown now waits for the held job
        go.set()
        stopper.join(10)
        assert not stopper.is_alive(), "stop() deadlocked with a reconciling job"


class TestMainLoopSurvives:
    """APScheduler's own thread must outlive the races that killed it (issue 13, point 1)."""

    def test_shutdown_during_a_job_pass(self, live: Engine) -> None:
        """A stop that lands while a pass hands a one-shot job over: the pass finishes first.

        Before the fix, ``shutdown`` set the state to stopped mid-pass; the pass's
        ``remove_job`` then looked among pending jobs and raised ``JobLookupError`` in
        the main loop thread (pytest turns an exception in a thread into a failure).
        """
        import threading

        from apscheduler.executors.pool import ThreadPoolExecutor

        in_pass, stop_called = threading.Event(), threading.Event()

        class SlowHandOver(ThreadPoolExecutor):  # type: ignore[misc]
            def submit_job(self, job: Any, run_times: Any) -> None:
                super().submit_job(job, run_times)
                in_pass.set()
                stop_called.wait(2)  # the stop arrives while the pass still holds the job

        service = SchedulerService(live, reconcile_every=3600)
        service.start(wait_for_lead=False)
        service.scheduler.add_executor(SlowHandOver(), "slow")
        service.scheduler.add_job(lambda: None, "date", run_date=datetime.now(UTC), id="x", executor="slow")
        assert in_pass.wait(10)
        stopper = threading.Thread(target=service.stop)
        stopper.start()
        time.sleep(0.2)
        stop_called.set()
        stopper.join(10)
        assert not stopper.is_alive()
        assert not service.scheduler.running

    def test_reconcile_after_the_job_ran_meanwhile(self, live: Engine) -> None:
        """An obsolete job that ran and left between the listing and the removal is not an error."""
        config, _, _ = soon_call(3600, 7200)
        seed(live, config)
        service = SchedulerService(live, reconcile_every=3600)
        service.start(wait_for_lead=False)
        try:
            service.scheduler.add_job(
                lambda: None, "date", run_date=datetime(2099, 1, 1, tzinfo=UTC), id="filiere:gone"
            )
            listed = service.scheduler.get_jobs

            def listing_then_the_job_runs() -> Any:
                jobs = listed()
                service.scheduler.remove_job("filiere:gone")  # what the main loop does on hand-over
                return jobs

            service.scheduler.get_jobs = listing_then_the_job_runs  # type: ignore[method-assign]
            planned = service.reconcile()
            service.scheduler.get_jobs = listed  # type: ignore[method-assign]
            assert [j.trigger for j in planned] == ["open"]
            assert {j.id for j in service.scheduler.get_jobs()} == {"filiere:reconcile", planned[0].id}
        finally:
            service.stop()


def test_the_leader_is_named_on_postgres(pg_engine: Engine) -> None:
    """``current_leader``: none, then the server process of the session holding the advisory lock."""
    from scheduler.leader import AdvisoryLeader, current_leader

    assert current_leader(pg_engine) is None
    leader = AdvisoryLeader(pg_engine)
    assert leader.acquire(wait=False)
    try:
        named = current_leader(pg_engine)
        assert named is not None
        assert named.startswith("server process ")
    finally:
        leader.release()
    assert current_leader(pg_engine) is None
