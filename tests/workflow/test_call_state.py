"""A call's state comes from the clock and the acts in force, not from whether the scheduler ran.

Before, with no scheduler at the deadline the call stayed ``open``: an extension adopted
afterwards reopened it, a late submission went through and replay called it legal; with the
scheduler running the same extension was refused. Each test here runs both ways: ``nobody``
(no job ran) and ``scheduler`` (the jobs the scheduler plans were fired when due).
"""

from __future__ import annotations

from typing import Any

import pytest

from scheduler.plan import plan
from tests.factories import CALL_ID, World, call_config
from workflow.audit.replay import replay
from workflow.audit.stored import canonical_events, stored_definitions
from workflow.engine import Engine
from workflow.errors import GuardRefused, TransitionNotAllowed

#: The original deadline only: 31/12/2022 16:00 Europe/Rome.
ACT = "d.d.u.o. n. 2338/2022 (avviso)"
REOPENING = {"at": "2023-03-31T16:00", "act": "DGR n. 99 del 10/01/2023", "reopens": True}


@pytest.fixture(name="closed_by", params=["nobody", "scheduler"])
def _closed_by(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def open_call(world: World) -> None:
    world.open_call(call_config(deadline={"at": "2022-12-31T16:00", "act": ACT, "extensions": []}))


def run_due_jobs(engine: Engine) -> int:
    """Fire every job the scheduler would have fired by now, as it fires them; return how many."""
    fired = 0
    while due := [j for j in plan(engine) if j.run_at <= engine.clock.now()]:
        for job in due:
            engine.fire(
                job.kind,
                job.entity_id,
                job.trigger,
                actor="system",
                role="system",
                payload=dict(job.payload),
                idempotency_key=job.idempotency_key,
                effective_at=job.effective_at,
            )
            fired += 1
    return fired


def past_the_deadline(world: World, closed_by: str) -> None:
    """One second after the deadline, with or without the scheduler's jobs having run."""
    world.at(2022, 12, 31, 16, 0, 1)
    if closed_by == "scheduler":
        assert run_due_jobs(world.engine) >= 1
        assert world.engine.get("call", CALL_ID).state == "closed"
    else:
        assert world.engine.get("call", CALL_ID).state == "open"
    world.at(2023, 1, 10, 9)


def extend(world: World, **payload: Any) -> Any:
    return world.engine.fire("call", CALL_ID, "extend", actor="dir.verdi", role="director", payload=payload)


def footprint(engine: Engine) -> tuple[int, list[tuple[str, str, int]]]:
    """The last event and every entity's state and version: what a refusal must leave alone."""
    last = max((e.seq for e in engine.events()), default=0)
    return last, [(s.id, s.state, s.version) for kind in ("call", "proposal") for s in engine.entities(kind)]


def transitions(engine: Engine) -> list[tuple[str, str, str | None, str]]:
    """The history as kinds and moves, without times: what must not depend on the scheduler."""
    return [(e.entity_kind, e.trigger, e.from_state, e.to_state) for e in engine.events()]


def replays_clean(engine: Engine) -> None:
    result = replay(canonical_events(engine.db), stored_definitions(engine.db))
    assert result.ok, result.text()


class TestAfterTheDeadline:
    def test_extension_without_the_flag_is_refused(self, contract_world: World, closed_by: str) -> None:
        """An act adopted after the deadline does not reopen the call unless it says so."""
        world = contract_world
        open_call(world)
        late = world.draft()
        past_the_deadline(world, closed_by)
        before = footprint(world.engine)
        with pytest.raises(GuardRefused) as caught:
            extend(world, at="2023-03-31T16:00", act="DGR n. 99 del 10/01/2023")
        assert caught.value.guard == "reopened_by_act"
        assert "reopens the call only if it says so" in caught.value.reason
        assert footprint(world.engine) == before
        with pytest.raises((GuardRefused, TransitionNotAllowed)):  # late, or expired by the scheduler
            world.engine.fire("proposal", late, "submit", actor="capofila.alfa", role="applicant")
        assert footprint(world.engine) == before
        replays_clean(world.engine)

    def test_reopening_act_reopens(self, contract_world: World, closed_by: str) -> None:
        """An act that says it reopens the call does: closed -> open, drafts left stay expired."""
        world = contract_world
        open_call(world)
        left = world.draft()
        past_the_deadline(world, closed_by)
        event = extend(world, **REOPENING)
        assert (event.from_state, event.to_state) == ("closed", "open")
        assert event.payload["effects"]["deadline"] == {
            "at": "2023-03-31T14:00:00Z",
            "act": REOPENING["act"],
            "adopted_at": "2023-01-10T08:00:00Z",
            "reopens": True,
        }
        assert world.engine.get("proposal", left).state == "expired"
        call = world.engine.get("call", CALL_ID)
        assert call.state == "open"
        assert call.data["reopened_at"] == "2023-01-10T08:00:00Z"
        assert transitions(world.engine)[-4:] == [
            ("proposal", "create", None, "draft"),
            ("call", "close", "open", "closed"),
            ("proposal", "expire", "draft", "expired"),
            ("call", "extend", "closed", "open"),
        ]
        close = [e for e in world.engine.history("call", CALL_ID) if e.trigger == "close"]
        assert [(e.actor, e.effective_at.isoformat()) for e in close] == [
            ("system", "2022-12-31T15:00:00+00:00")
        ]
        fresh = world.draft("capofila.beta", partnership=world.partnership("capofila.beta", start=100))
        world.engine.fire("proposal", fresh, "submit", actor="capofila.beta", role="applicant")
        assert world.engine.get("proposal", fresh).state == "submitted"
        replays_clean(world.engine)

    def test_reopened_call_closes_again(self, contract_world: World, closed_by: str) -> None:
        """After the reopening the new deadline holds: the scheduler closes the call again."""
        world = contract_world
        open_call(world)
        past_the_deadline(world, closed_by)
        extend(world, **REOPENING)
        world.at(2023, 3, 31, 16, 0, 1)
        assert run_due_jobs(world.engine) == 1
        history = world.engine.history("call", CALL_ID)
        assert [e.trigger for e in history] == ["create", "open", "close", "extend", "close"]
        assert history[-1].effective_at.isoformat() == "2023-03-31T14:00:00+00:00"
        replays_clean(world.engine)

    def test_the_old_close_job_is_harmless(self, contract_world: World, closed_by: str) -> None:
        """A close or an expiry the scheduler planned before the reopening changes nothing after it."""
        world = contract_world
        open_call(world)
        past_the_deadline(world, closed_by)
        extend(world, **REOPENING)
        before = footprint(world.engine)
        with pytest.raises(GuardRefused):
            world.engine.fire("call", CALL_ID, "close", actor="system", role="system")
        assert footprint(world.engine) == before

    def test_reopening_must_move_the_deadline_past_now(self, contract_world: World, closed_by: str) -> None:
        """A reopening to a deadline already gone by is refused, and writes nothing."""
        world = contract_world
        open_call(world)
        past_the_deadline(world, closed_by)
        before = footprint(world.engine)
        with pytest.raises(GuardRefused) as caught:
            extend(world, **{**REOPENING, "at": "2023-01-05T16:00"})
        assert caught.value.guard == "extension_later"
        assert "is not after now" in caught.value.reason
        assert footprint(world.engine) == before


class TestBeforeTheDeadline:
    def test_extension_keeps_the_call_open(self, contract_world: World) -> None:
        """Before the deadline an extension needs no flag, and the call stays open."""
        world = contract_world
        open_call(world)
        world.at(2022, 12, 1, 12)
        event = extend(world, at="2023-03-31T16:00", act="DGR n. 1 del 01/12/2022")
        assert (event.from_state, event.to_state) == ("open", "open")
        assert "reopens" not in event.payload["effects"]["deadline"]
        replays_clean(world.engine)

    def test_no_draft_after_the_deadline(self, contract_world: World) -> None:
        """A call past its deadline accepts no new draft, whether or not its close was recorded."""
        world = contract_world
        open_call(world)
        partnership = world.partnership()
        world.at(2023, 1, 2, 9)
        with pytest.raises(GuardRefused) as caught:
            world.draft(partnership=partnership)
        assert caught.value.guard == "call_accepts_drafts"


class TestReplayJudgesTheSame:
    """Replay of a log that an engine without these rules could write calls it illegal."""

    def _log(self, world: World) -> list[dict[str, Any]]:
        open_call(world)
        world.at(2023, 1, 10, 9)
        extend(world, **REOPENING)  # the engine records the close first
        return list(canonical_events(world.engine.db))

    def test_extension_of_an_open_call_after_its_deadline(self, world: World) -> None:
        """The old engine's history: ``extend`` open -> open after the deadline, no close."""
        events = self._log(world)
        kept = [e for e in events if not (e["entity_kind"] == "proposal" or e["trigger"] in ("close",))]
        extension = kept[-1]
        extension.update(from_state="open", to_state="open", entity_version=3)
        extension["payload"]["input"].pop("reopens")
        result = replay(kept, stored_definitions(world.engine.db))
        assert [p.reason for p in result.illegal] == [
            "extended an open call at 2023-01-10T08:00:00.000000Z, after its deadline in force had passed"
        ]

    def test_reopening_without_the_flag(self, world: World) -> None:
        """A closed call reopened by an act that does not say so is illegal."""
        events = self._log(world)
        events[-1]["payload"]["input"].pop("reopens")
        result = replay(events, stored_definitions(world.engine.db))
        assert [p.reason for p in result.illegal] == [
            "extended a closed call at 2023-01-10T08:00:00.000000Z by an act that does not reopen it"
        ]


def test_call_file_cannot_reopen_silently() -> None:
    """A configured extension adopted after the deadline it moves is refused: reopening is an act fired."""
    from handlers.base import InvalidPayload
    from handlers.callconfig import CallConfig
    from handlers.payloads import validate

    late = {"at": "2023-12-31T16:00", "act": "DGR tardiva", "adopted_at": "2023-01-10T12:00"}
    with pytest.raises(InvalidPayload) as caught:
        validate(
            CallConfig, call_config(deadline={"at": "2022-12-31T16:00", "act": ACT, "extensions": [late]})
        )
    assert caught.value.field == "deadline.extensions.0.adopted_at"
    assert "reopens" in caught.value.reason
