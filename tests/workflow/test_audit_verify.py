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
        """Recomputing the altered event's own hash moves the break to its entity's next event."""
        sql(history, "UPDATE event SET actor = 'someone.else', hash = 'f' || substr(hash, 2) WHERE seq = 7")
        report = verify(history)
        assert report.first_bad_seq is not None
        assert report.first_bad_seq >= 7
        forged = _rehash(history, 7)
        sql(history, f"UPDATE event SET hash = '{forged}' WHERE seq = 7")
        report = verify(history)
        assert (report.ok, report.first_bad_seq) == (False, _next_of_same_entity(history, 7))
        assert "prev_hash" in str(report.problem)

    def test_deleted_event(self, history: World) -> None:
        """Deleting an event in the middle is reported where the positions jump."""
        sql(history, "DELETE FROM event WHERE seq = 5")
        report = verify(history)
        assert (report.ok, report.first_bad_seq) == (False, 6)
        assert "deleted" in str(report.problem)

    def test_cut_tail(self, history: World) -> None:
        """A cut tail is caught by the tree head, and by a kept root or hash even if the head is rewritten."""
        before = verify(history)
        end = before.head_seq
        sql(history, f"DELETE FROM event WHERE seq > {end - 2}")
        report = verify(history)
        assert (report.ok, "tail cut" in str(report.problem)) == (False, True)
        shorter = report.root
        sql(history, f"UPDATE tree_head SET size = {report.tree_size}, root = '{shorter}'")
        assert verify(history).ok  # a consistent shorter log: only what the auditor kept can tell
        report = verify(history, head_hash=before.head_hash)
        assert (report.ok, report.first_bad_seq) == (False, end - 1)
        assert "is not in this log" in str(report.problem)
        assert "tail cut" in str(report.problem)
        report = verify_chain(history.engine.db, head_hash=before.head_hash, head_seq=end)
        assert (report.ok, report.first_bad_seq) == (False, end - 1)
        assert f"the log ends at event {end - 2}, before the kept head {end}" in str(report.problem)
        assert "truncated" in str(report.problem)
        report = verify_chain(history.engine.db, kept_roots={before.tree_size: before.root})
        assert (report.ok, "tail cut" in str(report.problem)) == (False, True)

    def test_full_rewrite_with_recomputed_hashes(self, history: World) -> None:
        """Every hash, the tree and its head recomputed after a change: only a kept root catches it."""
        kept = verify(history)
        sql(history, "UPDATE event SET actor = 'someone.else' WHERE seq = 7")
        _rewrite_all(history)
        assert verify(history).ok  # the forger was thorough
        report = verify_chain(history.engine.db, kept_roots={kept.tree_size: kept.root})
        assert report.ok is False
        assert "rewritten or forked" in str(report.problem)

    def test_inserted_event(self, history: World) -> None:
        """A forged event slipped in (later events renumbered) breaks the chain at it."""
        sql(
            history,
            "UPDATE event SET seq = seq + 1000, position = position + 1000 WHERE seq > 6",
            "UPDATE event SET seq = seq - 999, position = position - 999 WHERE seq > 1000",
            "INSERT INTO event (seq, entity_kind, entity_id, entity_version, trigger, from_state,"
            " to_state, actor, role, occurred_at, effective_at, payload, definition_version, prev_hash,"
            " hash, position) SELECT 7, entity_kind, entity_id, entity_version, trigger, from_state,"
            " to_state, 'forger', role, occurred_at, effective_at, payload, definition_version, hash, hash, 7"
            " FROM event WHERE seq = 6",
        )
        report = verify(history)
        assert (report.ok, report.first_bad_seq) == (False, 7)

    def test_reordered_events(self, history: World) -> None:
        """Swapping two events' sequence numbers breaks their hashes; swapping positions, the tree."""
        sql(
            history,
            "UPDATE event SET seq = -1 WHERE seq = 5",
            "UPDATE event SET seq = 5 WHERE seq = 6",
            "UPDATE event SET seq = 6 WHERE seq = -1",
        )
        report = verify(history)
        assert (report.ok, report.first_bad_seq) == (False, 6)
        sql(
            history,
            "UPDATE event SET seq = -1 WHERE seq = 5",
            "UPDATE event SET seq = 5 WHERE seq = 6",
            "UPDATE event SET seq = 6 WHERE seq = -1",
            "UPDATE event SET position = -1 WHERE seq = 5",
            "UPDATE event SET position = 5 WHERE seq = 6",
            "UPDATE event SET position = 6 WHERE seq = -1 OR position = -1",
        )
        report = verify(history)
        assert report.ok is False
        assert "rewritten" in str(report.problem) or "reordered" in str(report.problem)

    def test_report_json(self, history: World) -> None:
        """The report is JSON-ready, for scripts."""
        sql(history, "DELETE FROM event WHERE seq = 3")
        assert verify(history).to_json()["first_bad_seq"] == 4


def _next_of_same_entity(world: World, seq: int) -> int:
    with sqlite3.connect(world.path) as db:
        kind, entity_id = db.execute(
            "SELECT entity_kind, entity_id FROM event WHERE seq = ?", (seq,)
        ).fetchone()
        return int(
            db.execute(
                "SELECT min(seq) FROM event WHERE entity_kind = ? AND entity_id = ? AND seq > ?",
                (kind, entity_id, seq),
            ).fetchone()[0]
        )


def _rewrite_all(world: World) -> None:
    """What a forger with write access does: recompute every hash, chain, and the whole tree."""
    from workflow import merkle
    from workflow.store import tree

    heads: dict[tuple[str, str], str] = {}
    leaves = []
    with sqlite3.connect(world.path) as db:
        rows = db.execute("SELECT seq, entity_kind, entity_id FROM event ORDER BY position").fetchall()
    for seq, kind, entity_id in rows:
        prev = heads.get((kind, entity_id), GENESIS)
        sql(world, f"UPDATE event SET prev_hash = '{prev}' WHERE seq = {seq}")
        digest = _rehash(world, seq)
        sql(world, f"UPDATE event SET hash = '{digest}' WHERE seq = {seq}")
        heads[(kind, entity_id)] = digest
        leaves.append(tree.leaf_of(digest))
    nodes = merkle.nodes_of(leaves)
    root = merkle.reference_root(leaves).hex()
    sql(
        world,
        "DELETE FROM tree_node",
        *[
            f"INSERT INTO tree_node (level, idx, hash) VALUES ({lv}, {ix}, '{h.hex()}')"
            for (lv, ix), h in nodes.items()
        ],
        f"UPDATE tree_head SET root = '{root}'",
    )


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
