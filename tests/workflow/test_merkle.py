"""The RFC 9162 Merkle tree: roots against an independent implementation, proofs at every size."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from workflow import merkle

VECTORS = json.loads((Path(__file__).parent.parent / "fixtures" / "merkle" / "vectors.json").read_text())
LEAVES = [merkle.leaf_hash(bytes.fromhex(leaf)) for leaf in VECTORS["leaves"]]
BIG = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(300)]
BIG_NODES = merkle.nodes_of(BIG)


def source(nodes: dict[tuple[int, int], bytes]) -> merkle.NodeSource:
    return lambda level, index: nodes[(level, index)]


def test_prefixes_are_the_rfcs() -> None:
    assert merkle.leaf_hash(b"ab") == hashlib.sha256(b"\x00ab").digest()
    assert merkle.node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()
    assert merkle.root(source({}), 0) == hashlib.sha256(b"").digest()


def test_certificate_transparency_reference_roots() -> None:
    """CT's eight reference leaves; the size-8 root is the one CT's own test suites publish."""
    leaves = [merkle.leaf_hash(bytes.fromhex(leaf)) for leaf in VECTORS["ct_leaves"]]
    nodes = merkle.nodes_of(leaves)
    for size, expected in VECTORS["ct_roots"].items():
        assert merkle.root(source(nodes), int(size)).hex() == expected
    assert merkle.root(source(nodes), 8).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


def test_roots_match_pymerkle_at_every_size() -> None:
    for size, expected in VECTORS["roots"].items():
        nodes = merkle.nodes_of(LEAVES[: int(size)])
        assert merkle.root(source(nodes), int(size)).hex() == expected
        assert merkle.reference_root(LEAVES[: int(size)]).hex() == expected


def test_inclusion_paths_match_pymerkle() -> None:
    nodes = merkle.nodes_of(LEAVES)
    for key, expected in VECTORS["inclusion"].items():
        index, size = map(int, key.split("/"))
        assert [h.hex() for h in merkle.inclusion_path(source(nodes), index, size)] == expected


def test_appending_in_batches_gives_the_same_tree() -> None:
    frontier: list[tuple[int, int, bytes]] = []
    size, stored = 0, {}
    for start in range(0, 300, 37):
        created, frontier, size = merkle.append(frontier, size, BIG[start : start + 37])
        stored.update({(level, index): digest for level, index, digest in created})
        assert merkle.frontier_root(frontier) == merkle.reference_root(BIG[:size])
        assert [(level, index) for level, index, _ in frontier] == merkle.frontier_keys(size)
    assert stored == BIG_NODES


@pytest.mark.parametrize("size", range(1, 301))
def test_every_inclusion_proof_verifies_and_wrong_ones_fail(size: int) -> None:
    nodes = source(BIG_NODES)
    head = merkle.root(nodes, size)
    assert head == merkle.reference_root(BIG[:size])
    for index in range(size):
        path = merkle.inclusion_path(nodes, index, size)
        assert merkle.verify_inclusion(BIG[index], index, size, path, head)
        assert not merkle.verify_inclusion(BIG[index - 1] if size > 1 else b"x" * 32, index, size, path, head)
        assert not merkle.verify_inclusion(BIG[index], index, size, path, merkle.leaf_hash(b"other root"))
        if size > 1:
            assert not merkle.verify_inclusion(BIG[index], (index + 1) % size, size, path, head)
            # A size with another path shape fails; sizes of the same shape are bound by the signed
            # checkpoint, which names the size with the root.
            assert not merkle.verify_inclusion(BIG[index], index, 2 * size, path, head)
            assert not merkle.verify_inclusion(BIG[index], index, size, path[:-1], head)
        assert not merkle.verify_inclusion(BIG[index], size, size, path, head)
        assert not merkle.verify_inclusion(BIG[index], index, size, [*path, head], head)


@pytest.mark.parametrize("new", range(1, 301))
def test_every_consistency_proof_verifies_and_wrong_ones_fail(new: int) -> None:
    nodes = source(BIG_NODES)
    new_root = merkle.root(nodes, new)
    for old in range(1, new + 1):
        old_root = merkle.root(nodes, old)
        proof = merkle.consistency_proof(nodes, old, new)
        assert merkle.verify_consistency(old, new, old_root, new_root, proof)
        assert not merkle.verify_consistency(old, new, merkle.leaf_hash(b"forged"), new_root, proof)
        assert not merkle.verify_consistency(old, new, old_root, merkle.leaf_hash(b"forged"), proof)
        if old < new:
            assert not merkle.verify_consistency(old, 2 * new, old_root, new_root, proof)
            assert not merkle.verify_consistency(old, new, old_root, new_root, proof[:-1])
            wrong = merkle.root(nodes, old - 1) if old > 1 else merkle.leaf_hash(b"")
            assert not merkle.verify_consistency(old, new, wrong, new_root, proof)
        else:
            assert proof == []


def test_a_forked_tree_is_not_consistent() -> None:
    """Same first 100 leaves, then one different leaf: the longer tree does not extend the other."""
    forked = [*BIG[:150], merkle.leaf_hash(b"fork"), *BIG[151:200]]
    fork_nodes = source(merkle.nodes_of(forked))
    nodes = source(BIG_NODES)
    proof = merkle.consistency_proof(fork_nodes, 160, 200)
    old_root, new_root = merkle.root(nodes, 160), merkle.root(fork_nodes, 200)
    assert not merkle.verify_consistency(160, 200, old_root, new_root, proof)


def test_a_proof_reads_few_nodes() -> None:
    """O(log n) stored nodes per proof: what the database will be asked for."""
    size = 1_000_003
    keys = merkle.needed(lambda node: merkle.inclusion_path(node, 777_777, size))
    assert len(keys) <= 2 * size.bit_length()
    keys = merkle.needed(lambda node: merkle.consistency_proof(node, 500_001, size))
    assert len(keys) <= 2 * size.bit_length()


def test_bad_arguments_are_refused() -> None:
    nodes = source(BIG_NODES)
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_path(nodes, 5, 5)
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_proof(nodes, 6, 5)
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_proof(nodes, 0, 5)
