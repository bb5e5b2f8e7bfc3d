"""Inclusion and consistency proofs served from the stored tree verify with RFC 9162's algorithms."""

from __future__ import annotations

import pytest

from tests.factories import World
from workflow import merkle
from workflow.audit import proofs
from workflow.errors import InvalidInput, NotFound
from workflow.store import tree


def test_every_event_proves_in_every_later_tree_and_trees_extend(world: World) -> None:
    world.open_call()
    world.at(2022, 9, 10, 11)
    world.evaluated()
    events = list(world.engine.events())
    size = len(events)
    assert size >= 5
    for event in events:
        for at in sorted({event.position, size}):
            got = proofs.inclusion(world.engine.db, event.seq, at)
            path = [bytes.fromhex(h) for h in got["path"]]
            root = bytes.fromhex(got["root"])
            leaf = tree.leaf_of(event.hash)
            assert merkle.verify_inclusion(leaf, got["leaf_index"], at, path, root)
            assert not merkle.verify_inclusion(tree.leaf_of("0" * 64), got["leaf_index"], at, path, root)
    for old in range(1, size + 1):
        got = proofs.consistency(world.engine.db, old)
        path = [bytes.fromhex(h) for h in got["path"]]
        assert merkle.verify_consistency(
            old, size, bytes.fromhex(got["old_root"]), bytes.fromhex(got["new_root"]), path
        )
    with world.engine.db.connect() as connection:
        assert proofs.consistency(world.engine.db, size)["new_root"] == tree.head(connection).root


def test_bad_requests_are_typed(world: World) -> None:
    world.open_call()
    with pytest.raises(NotFound):
        proofs.inclusion(world.engine.db, 999)
    with pytest.raises(InvalidInput):
        proofs.inclusion(world.engine.db, 1, 99)
    with pytest.raises(InvalidInput):
        proofs.consistency(world.engine.db, 0)
