"""The engine's contract, run on every real backend: a SQLite file and PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text

from tests.factories import CALL_ID, World
from workflow.audit.verify import verify_chain
from workflow.canonical import GENESIS
from workflow.engine import Engine
from workflow.errors import DatabaseError, GuardRefused, TransitionNotAllowed, VersionConflict
from workflow.store.tables import EVENT

FAILING_INSERT = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE INSERT ON event WHEN NEW.trigger = 'submit' "
        "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
    ],
    "postgres": [
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.trigger = 'submit' THEN RAISE EXCEPTION 'simulated failure'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON event FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}


def event_count(engine: Engine) -> int:
    with engine.db.connect() as c:
        return int(c.execute(select(func.count()).select_from(EVENT)).scalar_one())


@pytest.fixture(name="draft")
def _draft(contract_world: World) -> str:
    contract_world.open_call()
    contract_world.at(2022, 9, 10, 11)
    return contract_world.draft()


class TestContract:
    def test_phase_one_flow(self, contract_world: World) -> None:
        """Draft to listed, with the list versioned by decree, on this backend."""
        w = contract_world
        w.open_call()
        w.at(2022, 9, 10, 11)
        proposal = w.evaluated()
        decree = w.engine.create(
            "decree",
            actor="dir.verdi",
            role="director",
            payload={"call_id": CALL_ID, "act": "d.d.u.o. n. 1", "proposal_ids": [proposal]},
        )
        w.engine.fire("decree", decree.entity_id, "approve", actor="dir.verdi", role="director")
        assert w.engine.get("proposal", proposal).state == "listed"
        listed = w.engine.list_as_of(CALL_ID)
        assert listed is not None
        assert listed.proposal_ids == (proposal,)
        events = list(w.engine.events())
        assert [e.position for e in events] == list(range(1, len(events) + 1))
        assert len({e.seq for e in events}) == len(events)
        last: dict[tuple[str, str], str] = {}
        for e in events:  # each event chains to its own entity's previous one
            assert e.prev_hash == last.get((e.entity_kind, e.entity_id), GENESIS)
            last[(e.entity_kind, e.entity_id)] = e.hash
        assert verify_chain(w.engine.db).ok

    def test_refusal_writes_nothing(self, contract_world: World, draft: str) -> None:
        """A refused submission leaves no event, on this backend."""
        contract_world.at(2028, 1, 1)
        before = event_count(contract_world.engine)
        with pytest.raises(GuardRefused):
            contract_world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
        assert event_count(contract_world.engine) == before

    def test_database_error_rolls_back(self, contract_world: World, draft: str, backend: str) -> None:
        """A failing event insert undoes the entity update, on this backend."""
        with contract_world.engine.db.begin() as c:
            for statement in FAILING_INSERT[backend]:
                c.execute(text(statement))
        before = event_count(contract_world.engine)
        with pytest.raises(DatabaseError, match="simulated failure"):
            contract_world.engine.fire("proposal", draft, "submit", actor="capofila.alfa", role="applicant")
        assert event_count(contract_world.engine) == before
        assert contract_world.engine.get("proposal", draft).state == "draft"

    def test_idempotent_retry(self, contract_world: World, draft: str) -> None:
        """The same key returns the first event and writes nothing, on this backend."""
        first = contract_world.engine.fire(
            "proposal", draft, "submit", actor="capofila.alfa", role="applicant", idempotency_key="retry-1"
        )
        again = contract_world.engine.fire(
            "proposal", draft, "submit", actor="capofila.alfa", role="applicant", idempotency_key="retry-1"
        )
        assert (again.seq, again.hash, again.replayed) == (first.seq, first.hash, True)

    def test_race_on_one_proposal(self, contract_world: World, draft: str) -> None:
        """Eight writers race to submit one proposal: exactly one wins, on this backend."""
        results: list[str] = []
        barrier = threading.Barrier(8)

        def submit() -> None:
            barrier.wait()
            try:
                contract_world.engine.fire(
                    "proposal", draft, "submit", actor="capofila.alfa", role="applicant", expected_version=1
                )
                results.append("won")
            except (VersionConflict, TransitionNotAllowed) as exc:
                results.append(type(exc).__name__)

        threads = [threading.Thread(target=submit) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count("won") == 1
        assert len(results) == 8
        protocols = [e for e in contract_world.engine.history("proposal", draft) if e.trigger == "submit"]
        assert len(protocols) == 1
