"""``audit verify`` detects every kind of tampering done directly in SQL."""

from __future__ import annotations

import sqlite3

import pytest

from tests.factories import World
from workflow.audit.verify import ChainReport, verify_chain
from workflow.canonical import GENESIS


@pytest.fixture(name="history")
def _history(world: World) -> World:
    """A realistic history: a call, partnerships, submissions, an evaluation, a decree."""
    world.open_call()
    world.at(2022, 9, 10, 11)
    listed = world.evaluated()
    world.submitted("capofila.beta")
    world.decree([listed])
    return world


def sql(world: World, *statements: str) -> None:
    """Tamper with the database behind the engine's back."""
    with sqlite3.connect(world.path) as db:
        for statement in statements:
            db.execute(statement)


def verify(world: World, head_hash: str | None = None) -> ChainReport:
    return verify_chain(world.engine.db, head_hash=head_hash)


def last_seq(world: World) -> int:
    return verify(world).head_seq


class TestIntact:
    def test_clean_chain(self, history: World) -> None:
        """An untouched log verifies, with its count and head."""
        report = verify(history)
        events = list(history.engine.events())
        assert report.ok
        assert (report.events, report.head_seq, report.head_hash) == (
            len(events),
            events[-1].seq,
            events[-1].hash,
        )
        assert report.first_bad_seq is None

    def test_empty_log(self, engine: object, world: World) -> None:
        """An empty log verifies with zero events and the genesis hash."""
        report = verify(world)
        assert (report.ok, report.events, report.head_hash) == (True, 0, GENESIS)

    def test_kept_head_of_a_longer_chain(self, history: World) -> None:
        """A head hash kept earlier is found in a chain that grew since."""
        kept = verify(history).head_hash
        history.submitted("capofila.gamma")
        assert verify(history, head_hash=kept).ok


class TestTampering:
    @pytest.mark.parametrize(
        "assignment",
        [
            """payload = replace(payload, '"impact":15', '"impact":20')""",
            "to_state = 'listed'",
            "actor = 'someone.else'",
            "occurred_at = '2022-09-10 09:00:01.000000'",
            "role = 'director'",
        ],
    )
    def test_altered_column(self, history: World, assignment: str) -> None:
        """Changing any hashed column of an event is reported at that event."""
        sql(history, f"UPDATE event SET {assignment} WHERE seq = 7")
        report = verify(history)
        assert (report.ok, report.first_bad_seq) == (False, 7)
        assert "altered" in str(report.problem)

    def test_altered_and_rehashed(self, history: World) -> None:
        """Recomputing the altered event's own hash moves the break to the next event."""
        sql(history, "UPDATE event SET actor = 'someone.else', hash = 'f' || substr(hash, 2) WHERE seq = 7")
        report = verify(history)
        assert report.first_bad_seq in (7, 8)
        forged = _rehash(history, 7)
        sql(history, f"UPDATE event SET hash = '{forged}' WHERE seq = 7")
        report = verify(history)
        assert (report.ok, report.first_bad_seq) == (False, 8)
        assert "prev_hash" in str(report.problem)

    def test_deleted_event(self, history: World) -> None:
        """Deleting an event in the middle is reported where the sequence jumps."""
        sql(history, "DELETE FROM event WHERE seq = 5")
        report = verify(history)
        assert (report.ok, report.first_bad_seq) == (False, 5)
        assert "deleted" in str(report.problem)

    def test_cut_tail(self, history: World) -> None:
        """A cut tail is caught by chain_head, and by a kept head hash even if chain_head is rewritten."""
        kept = verify(history).head_hash
        end = last_seq(history)
        sql(history, f"DELETE FROM event WHERE seq > {end - 2}")
        assert verify(history).first_bad_seq == end - 1
        sql(
            history,
            f"UPDATE chain_head SET seq = {end - 2}, hash = (SELECT hash FROM event WHERE seq = {end - 2})",
        )
        assert verify(history).ok  # a consistent shorter chain: only a kept hash can tell
        report = verify(history, head_hash=kept)
        assert (report.ok, report.first_bad_seq) == (False, end - 1)
        assert "is not in this log" in str(report.problem)
        report = verify_chain(history.engine.db, head_hash=kept, head_seq=end)
        assert (report.ok, report.first_bad_seq) == (False, end - 1)
        assert f"the log ends at event {end - 2}, before the kept head {end}" in str(report.problem)
        assert "truncated" in str(report.problem)

    def test_inserted_event(self, history: World) -> None:
        """A forged event slipped in (later events renumbered) breaks the chain at it."""
        sql(
            history,
            "UPDATE event SET seq = seq + 1000 WHERE seq > 6",
            "UPDATE event SET seq = seq - 999 WHERE seq > 1000",
            "INSERT INTO event (seq, entity_kind, entity_id, entity_version, trigger, from_state,"
            " to_state, actor, role, occurred_at, effective_at, payload, definition_version, prev_hash,"
            " hash) SELECT 7, entity_kind, entity_id, entity_version, trigger, from_state, to_state,"
            " 'forger', role, occurred_at, effective_at, payload, definition_version, hash, hash"
            " FROM event WHERE seq = 6",
        )
        report = verify(history)
        assert (report.ok, report.first_bad_seq) == (False, 7)

    def test_reordered_events(self, history: World) -> None:
        """Swapping two events' sequence numbers is reported at the lower one."""
        sql(
            history,
            "UPDATE event SET seq = -1 WHERE seq = 5",
            "UPDATE event SET seq = 5 WHERE seq = 6",
            "UPDATE event SET seq = 6 WHERE seq = -1",
        )
        report = verify(history)
        assert (report.ok, report.first_bad_seq) == (False, 5)

    def test_report_json(self, history: World) -> None:
        """The report is JSON-ready, for scripts."""
        sql(history, "DELETE FROM event WHERE seq = 3")
        assert verify(history).to_json()["first_bad_seq"] == 3


def _rehash(world: World, seq: int) -> str:
    """The hash an attacker would compute for the altered event ``seq``."""
    from sqlalchemy import select

    from workflow.audit.verify import canonical_row
    from workflow.canonical import chain_hash, event_bytes
    from workflow.store.tables import EVENT

    with world.engine.db.connect() as c:
        row = c.execute(select(EVENT).where(EVENT.c.seq == seq)).first()
    assert row is not None
    fields = canonical_row(row._mapping)
    return chain_hash(fields["prev_hash"], event_bytes(fields))
