"""The engine's contract: one transition, one transaction; retries; roles; refusals."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select, text

import handlers.proposal
from tests.factories import CALL_ID, World, rome
from workflow.canonical import GENESIS
from workflow.engine import AlreadyExists, Engine
from workflow.errors import (
    DatabaseError,
    ForbiddenRole,
    GuardRefused,
    HandlerError,
    IdempotencyMismatch,
    InvalidInput,
    NotFound,
    TransitionNotAllowed,
    VersionConflict,
)
from workflow.store.tables import COUNTER, ENTITY, EVENT


def counts(engine: Engine) -> tuple[int, int, int]:
    """Rows in entity, event and counter."""
    with engine.db.connect() as c:
        return tuple(
            c.execute(select(func.count()).select_from(t)).scalar_one() for t in (ENTITY, EVENT, COUNTER)
        )  # type: ignore[return-value]


def protocol_counter(engine: Engine) -> int | None:
    with engine.db.connect() as c:
        return c.execute(select(COUNTER.c.value).where(COUNTER.c.name == f"protocol:{CALL_ID}")).scalar()


def refuse_trigger(trigger: str, message: str) -> str:
    """SQL for a real database failure: SQLite aborts inserting events of ``trigger``."""
    return (
        f"CREATE TRIGGER refuse BEFORE INSERT ON event WHEN NEW.trigger = '{trigger}' "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
    )


@pytest.fixture(name="draft")
def _draft(world: World) -> str:
    world.open_call()
    world.at(2022, 9, 10, 11)
    return world.draft()


class TestAtomicity:
    def test_failing_guard_writes_nothing(self, world: World, draft: str) -> None:
        """A guard that refuses leaves no row, no event and the entity as it was."""
        world.at(2028, 1, 1, 0)
        before = world.engine.get("proposal", draft)
        tally = counts(world.engine)
        with pytest.raises(GuardRefused):
            world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
        assert counts(world.engine) == tally
        assert world.engine.get("proposal", draft) == before
        assert protocol_counter(world.engine) is None

    def test_raising_handler_rolls_back(
        self, world: World, draft: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A handler that raises after guards passed leaves no trace, not even a protocol number."""

        def broken(ctx: Any) -> Any:
            ctx.allocate(f"protocol:{CALL_ID}")  # consumes a number, then fails
            raise RuntimeError("disk of the PEC gateway is full")

        monkeypatch.setattr(handlers.proposal, "submit", broken)
        tally = counts(world.engine)
        with pytest.raises(HandlerError, match="RuntimeError: disk of the PEC gateway is full") as caught:
            world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
        assert (caught.value.kind, caught.value.trigger) == ("proposal", "submit")
        assert counts(world.engine) == tally
        assert world.engine.get("proposal", draft).state == "draft"
        assert protocol_counter(world.engine) is None

    def test_database_error_rolls_back_state_and_event(self, world: World, draft: str) -> None:
        """A database failure at the event insert undoes the entity update written before it."""
        with world.engine.db.begin() as c:
            c.execute(text(refuse_trigger("submit", "simulated I/O failure")))
        tally = counts(world.engine)
        with pytest.raises(DatabaseError, match="simulated I/O failure"):
            world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
        assert counts(world.engine) == tally
        stored = world.engine.get("proposal", draft)
        assert (stored.state, stored.version, "protocol" in stored.data) == ("draft", 1, False)
        assert protocol_counter(world.engine) is None

    def test_machines_keep_no_models(self, world: World, draft: str) -> None:
        """The shared machines hold no model after any number of fires: nothing in memory to go stale."""
        world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
        assert all(bound.machine.models == [] for bound in world.engine.machines.values())

    def test_failing_follow_up_rolls_back_the_cause(self, world: World, draft: str) -> None:
        """If one listing caused by a decree's approval fails, the approval itself is not committed."""
        listed = world.evaluated("capofila.beta", partnership=world.partnership("capofila.beta", start=40))
        decree = world.engine.create(
            "decree",
            actor="dir.verdi",
            role="director",
            payload={"call_id": CALL_ID, "act": "n. 1", "proposal_ids": [listed]},
        ).entity_id
        with world.engine.db.begin() as c:
            c.execute(text(refuse_trigger("list", "no")))
        with pytest.raises(DatabaseError):
            world.engine.fire("decree", decree, "approve", actor="dir.verdi", role="director")
        assert world.engine.get("decree", decree).state == "draft"
        assert world.engine.get("proposal", listed).state == "evaluated"
        assert world.engine.list_as_of(CALL_ID) is None


class TestEvents:
    def test_event_records_everything(self, world: World, draft: str) -> None:
        """Each event carries entity, version, states, actor, role, times, payload, definition, hashes."""
        event = world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
        assert (event.entity_kind, event.entity_id, event.entity_version) == ("proposal", draft, 2)
        assert (event.from_state, event.to_state, event.actor, event.role) == (
            "draft",
            "submitted",
            "capofila.alfa",
            "applicant",
        )
        assert event.occurred_at == rome(2022, 9, 10, 11)
        assert event.occurred_at.utcoffset().total_seconds() == 0
        assert event.definition_version == world.engine.definition("proposal").version
        assert event.payload["effects"]["receipt"]["protocol"] == "MI-FILIERE-2022-000001"
        assert len(event.hash) == 64
        assert event.prev_hash != event.hash
        history = world.engine.history("proposal", draft)
        assert [e.trigger for e in history] == ["create", "submit"]
        assert history[-1].hash == event.hash

    def test_positions_are_global_and_gapless_and_chains_per_entity(self, world: World, draft: str) -> None:
        """Sealed positions run 1..n across all entities; each event chains to its entity's previous one."""
        with pytest.raises(ForbiddenRole):
            world.engine.fire("proposal", draft, "submit", actor="x", role="auditor")
        submitted = world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
        events = list(world.engine.events())
        assert [e.position for e in events] == list(range(1, len(events) + 1))
        assert submitted.position == events[-1].position  # SQLite seals before the fire returns
        last: dict[tuple[str, str], str] = {}
        for e in events:
            assert e.prev_hash == last.get((e.entity_kind, e.entity_id), GENESIS)
            last[(e.entity_kind, e.entity_id)] = e.hash
        assert [e.seq for e in events] == list(range(1, len(events) + 1))  # one writer: seq is dense too

    def test_subscribers_hear_committed_events_only(self, world: World, draft: str) -> None:
        """Subscribers are called after commit, never for a refused trigger."""
        heard: list[str] = []
        stop = world.engine.subscribe(lambda e: heard.append(e.trigger))
        with pytest.raises(ForbiddenRole):
            world.engine.fire("proposal", draft, "submit", actor="x", role="operator")
        world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
        stop()
        world.engine.fire("proposal", draft, "withdraw", actor="capofila.alfa", role="applicant")
        assert heard == ["submit"]

    def test_subscribers_hear_follow_ups_in_order(self, world: World) -> None:
        """A decree's approval lists its proposals in the same transaction: all are heard, in seq order."""
        world.open_call()
        listed = world.evaluated()
        heard: list[tuple[int, str, str]] = []
        world.engine.subscribe(lambda e: heard.append((e.seq, e.entity_kind, e.trigger)))
        world.decree([listed])
        assert [(k, t) for _, k, t in heard] == [
            ("decree", "create"),
            ("decree", "approve"),
            ("proposal", "list"),
        ]
        assert [s for s, _, _ in heard] == sorted(s for s, _, _ in heard)


class TestRetriesAndConflicts:
    def test_same_key_returns_first_event(self, world: World, draft: str) -> None:
        """A retried fire with the same idempotency key returns the first event and writes nothing."""
        first = world.engine.fire(
            "proposal", draft, "submit", actor="capofila.alfa", role="applicant", idempotency_key="k-1"
        )
        tally = counts(world.engine)
        again = world.engine.fire(
            "proposal", draft, "submit", actor="capofila.alfa", role="applicant", idempotency_key="k-1"
        )
        assert (again.seq, again.hash, again.replayed, first.replayed) == (first.seq, first.hash, True, False)
        assert counts(world.engine) == tally

    def test_same_key_other_request_is_an_error(self, world: World, draft: str) -> None:
        """Reusing a key for a different payload is refused clearly, writing nothing."""
        world.engine.fire(
            "proposal",
            draft,
            "withdraw",
            actor="capofila.alfa",
            role="applicant",
            idempotency_key="k-2",
            payload={"reason": "a"},
        )
        tally = counts(world.engine)
        with pytest.raises(IdempotencyMismatch, match="k-2") as caught:
            world.engine.fire(
                "proposal",
                draft,
                "withdraw",
                actor="capofila.alfa",
                role="applicant",
                idempotency_key="k-2",
                payload={"reason": "b"},
            )
        assert caught.value.exit_code == 7
        assert counts(world.engine) == tally

    def test_idempotent_create(self, world: World) -> None:
        """Creating twice with one key makes one entity."""
        world.open_call()
        payload = {
            "name": "Filiera",
            "agreement": "Accordo",
            "partners": [{"tax_code": "00743110157", "name": "A", "lombardy_seat": True, "capofila": True}],
        }
        a = world.engine.create(
            "partnership", actor="c", role="applicant", payload=payload, idempotency_key="reg-1"
        )
        b = world.engine.create(
            "partnership", actor="c", role="applicant", payload=payload, idempotency_key="reg-1"
        )
        assert a.entity_id == b.entity_id
        assert b.replayed
        assert len(world.engine.find("partnership", parent_id="x")) == 0

    def test_stale_expected_version(self, world: World, draft: str) -> None:
        """Firing with a stale expected version is a conflict naming both versions."""
        with pytest.raises(VersionConflict) as caught:
            world.engine.fire(
                "proposal", draft, "submit", actor="capofila.alfa", role="applicant", expected_version=7
            )
        assert (caught.value.expected, caught.value.found) == (7, 1)
        assert (
            world.engine.fire(
                "proposal", draft, "submit", actor="capofila.alfa", role="applicant", expected_version=1
            ).entity_version
            == 2
        )

    def test_existing_id(self, world: World) -> None:
        """Creating an entity under a taken id is a conflict, and writes nothing."""
        world.evaluator("eval.verdi")
        tally = counts(world.engine)
        with pytest.raises(AlreadyExists, match=r"evaluator eval\.verdi exists already"):
            world.evaluator("eval.verdi")
        assert counts(world.engine) == tally


class TestRolesAndRefusals:
    def test_forbidden_role(self, world: World, draft: str) -> None:
        """A role the trigger does not list gets ForbiddenRole, with the allowed roles."""
        with pytest.raises(ForbiddenRole) as caught:
            world.engine.fire("proposal", draft, "submit", actor="op.rossi", role="operator")
        assert caught.value.allowed == ("applicant",)

    @pytest.mark.parametrize("trigger", ["submit", "withdraw", "request_integration", "evaluate", "list"])
    def test_auditor_fires_nothing(self, world: World, draft: str, trigger: str) -> None:
        """Auditors are read-only."""
        with pytest.raises((ForbiddenRole, TransitionNotAllowed)):
            world.engine.fire("proposal", draft, trigger, actor="corte.conti", role="auditor")

    def test_not_allowed_in_state(self, world: World, draft: str) -> None:
        """A trigger that does not leave the state is refused with the allowed ones."""
        with pytest.raises(TransitionNotAllowed) as caught:
            world.engine.fire(
                "proposal", draft, "evaluate", actor="e", role="evaluator", payload={"scores": {}}
            )
        assert caught.value.state == "draft"
        assert caught.value.allowed == ("submit", "withdraw", "expire")

    def test_refusal_explains_itself(self, world: World, draft: str) -> None:
        """A guard refusal names the guard and carries its data, in fields and message."""
        world.at(2027, 12, 31, 16, 0, 1)
        with pytest.raises(GuardRefused) as caught:
            world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
        error = caught.value
        assert error.guard == "deadline_not_passed"
        assert error.data["deadline"] == "2027-12-31T15:00:00Z"
        assert "deadline in force 2027-12-31 16:00:00 Europe/Rome" in str(error)
        assert "passed at 16:00:01" in str(error)

    def test_unknown_things(self, world: World, draft: str) -> None:
        """Unknown kinds, triggers, entities and payload fields are typed errors."""
        with pytest.raises(InvalidInput, match="unknown kind"):
            world.engine.fire("invoice", "1", "pay", actor="a", role="operator")
        with pytest.raises(InvalidInput, match="no trigger 'approve'"):
            world.engine.fire("proposal", draft, "approve", actor="a", role="director")
        with pytest.raises(NotFound):
            world.engine.fire("proposal", "P-999999", "submit", actor="a", role="applicant")
        with pytest.raises(InvalidInput) as caught:
            world.engine.fire(
                "proposal", draft, "withdraw", actor="a", role="applicant", payload={"reasn": "typo"}
            )
        assert caught.value.field == "reasn"

    def test_floats_never_reach_the_log(self, world: World, draft: str) -> None:
        """Scores must be integers: a float is invalid input, not a rounded score."""
        world.at(2022, 9, 10, 12)
        world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
        world.evaluator()
        with pytest.raises(InvalidInput):
            world.engine.fire(
                "proposal",
                draft,
                "evaluate",
                actor="eval.bianchi",
                role="evaluator",
                payload={"scores": {"coherence": 10.5}},
            )


class TestConcurrency:
    def test_two_engines_race_on_one_proposal(self, world: World, draft: str) -> None:
        """Two processes' engines on one file: one submit wins, the other gets a clear error."""
        others = [Engine(f"sqlite:///{world.path}", clock=world.clock) for _ in range(2)]
        barrier = threading.Barrier(2)
        results: list[object] = []

        def submit(engine: Engine) -> None:
            barrier.wait()
            try:
                results.append(
                    engine.fire(
                        "proposal",
                        draft,
                        "submit",
                        actor="capofila.alfa",
                        role="applicant",
                        expected_version=1,
                    ).seq
                )
            except (VersionConflict, TransitionNotAllowed) as exc:
                results.append(type(exc).__name__)

        threads = [threading.Thread(target=submit, args=(e,)) for e in others]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(map(str, results))[-1] == "VersionConflict"
        assert sum(isinstance(r, int) for r in results) == 1
        assert [e.trigger for e in world.engine.history("proposal", draft)] == ["create", "submit"]

    def test_concurrent_writers_never_see_locked(self, world: World) -> None:
        """Writers on one SQLite file queue (BEGIN IMMEDIATE) instead of failing."""
        world.open_call()
        engines = [Engine(f"sqlite:///{world.path}", clock=world.clock) for _ in range(4)]
        errors: list[Exception] = []

        def register(engine: Engine, n: int) -> None:
            for i in range(15):
                try:
                    engine.create(
                        "evaluator",
                        actor="op.rossi",
                        role="operator",
                        entity_id=f"eval.{n}.{i}",
                        payload={"name": "x", "ties": []},
                    )
                except Exception as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=register, args=(e, n)) for n, e in enumerate(engines)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        seqs = [e.seq for e in world.engine.events()]
        assert seqs == list(range(1, len(seqs) + 1))


class TestArguments:
    @pytest.mark.parametrize(
        ("arguments", "field"),
        [
            ({"actor": ""}, "actor"),
            ({"actor": "x" * 201}, "actor"),
            ({"idempotency_key": ""}, "idempotency_key"),
            ({"idempotency_key": "k" * 201}, "idempotency_key"),
            ({"effective_at": rome(2022, 1, 1).replace(tzinfo=None)}, "effective_at"),
        ],
    )
    def test_bad_arguments(self, world: World, draft: str, arguments: dict[str, Any], field: str) -> None:
        """Malformed actors, keys and naive times are invalid input naming the argument."""
        call = {"actor": "capofila.alfa", "role": "applicant", **arguments}
        tally = counts(world.engine)
        with pytest.raises(InvalidInput) as caught:
            world.engine.fire("proposal", draft, "submit", **call)
        assert caught.value.field == field
        assert counts(world.engine) == tally

    def test_readers_do_not_wait_for_the_writer(self, world: World, draft: str) -> None:
        """A read while another connection holds the write lock answers at once."""
        holder = world.engine.db.connect()
        holder.begin()  # BEGIN IMMEDIATE: the write lock
        try:
            assert world.engine.get("proposal", draft).state == "draft"
            assert len(world.engine.history("proposal", draft)) == 1
        finally:
            holder.rollback()
            holder.close()


class TestDryRun:
    def test_dry_run_writes_nothing(self, world: World, draft: str) -> None:
        """A dry run returns the event that would be committed and writes nothing, not even a number."""
        tally = counts(world.engine)
        heard: list[object] = []
        world.engine.subscribe(heard.append)
        event = world.engine.fire(
            "proposal", draft, "submit", actor="capofila.alfa", role="applicant", dry_run=True
        )
        assert (event.dry_run, event.to_state) == (True, "submitted")
        assert event.payload["effects"]["receipt"]["protocol"] == "MI-FILIERE-2022-000001"
        assert counts(world.engine) == tally
        assert heard == []
        assert protocol_counter(world.engine) is None
        assert (
            world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant").seq
            == event.seq
        )

    def test_dry_run_refusals_are_the_real_ones(self, world: World, draft: str) -> None:
        """A dry run refuses exactly as the real fire would."""
        world.at(2028, 1, 1)
        with pytest.raises(GuardRefused, match="deadline_not_passed"):
            world.engine.fire(
                "proposal", draft, "submit", actor="capofila.alfa", role="applicant", dry_run=True
            )
