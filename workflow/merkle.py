"""The Merkle tree of RFC 9162 section 2 (Certificate Transparency 2.0), with nothing else in it.

Leaf hash ``SHA-256(0x00 || leaf)``, node hash ``SHA-256(0x01 || left || right)``;
a tree of ``n`` leaves splits at the largest power of two smaller than ``n``.
Inclusion proofs (``PATH``) and consistency proofs (``PROOF``) are built and
verified exactly as sections 2.1.3 and 2.1.4 say, so any RFC 9162 or RFC 6962
verifier accepts them.

Trees are not held as lists: every function takes a ``node(level, index)``
callable that returns the hash of a *complete* subtree (``2**level`` leaves
starting at leaf ``index * 2**level``). The database stores exactly those
(``workflow/store/tree.py``), so a root or a proof costs O(log n) lookups;
:func:`needed` lists the lookups first, so the store can fetch them in one query.
This module imports only the standard library: the standalone verifier copies
its verification half.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

#: The hash of a complete subtree, by (level, index).
NodeSource = Callable[[int, int], bytes]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """The hash of one leaf (RFC 9162 2.1.1: the 0x00 prefix)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node (the 0x01 prefix)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n`` > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def blocks(lo: int, hi: int) -> list[tuple[int, int]]:
    """The complete subtrees that make up leaves ``[lo, hi)``, largest first.

    ``lo`` must be aligned as the RFC's recursion leaves it (a multiple of the
    power of two at or above ``hi - lo``); the range's hash is then these blocks
    folded from the right.
    """
    out, start, size = [], lo, hi - lo
    while size:
        level = size.bit_length() - 1
        width = 1 << level
        out.append((level, start >> level))
        start, size = start + width, size - width
    return out


def range_hash(node: NodeSource, lo: int, hi: int) -> bytes:
    """MTH of leaves ``[lo, hi)`` from stored complete subtrees (``lo`` aligned as in :func:`blocks`)."""
    if hi == lo:
        return EMPTY_ROOT
    hashes = [node(level, index) for level, index in blocks(lo, hi)]
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def root(node: NodeSource, size: int) -> bytes:
    """MTH of the first ``size`` leaves."""
    return range_hash(node, 0, size)


def inclusion_path(node: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 2.1.3.1: the audit path of leaf ``index``, bottom up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split(hi - lo)
        if index < lo + k:
            path.append(range_hash(node, lo + k, hi))
            hi = lo + k
        else:
            path.append(range_hash(node, lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_proof(node: NodeSource, old: int, new: int) -> list[bytes]:
    """PROOF(old, D[0:new]) of RFC 9162 2.1.4.1: that the first ``old`` leaves are a prefix of ``new``."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from {old} to {new}")
    proof: list[bytes] = []
    lo, hi, m, complete = 0, new, old, True
    # SUBPROOF(m, D[lo:hi], complete), unrolled: each step keeps one side and records the other.
    while m != hi - lo:
        k = split(hi - lo)
        if m <= k:
            proof.append(range_hash(node, lo + k, hi))
            hi = lo + k
        else:
            proof.append(range_hash(node, lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        proof.append(range_hash(node, lo, hi))
    proof.reverse()
    return proof


def needed(build: Callable[[NodeSource], object]) -> set[tuple[int, int]]:
    """The (level, index) keys ``build`` reads from its node source: run it on a recorder."""
    seen: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        seen.add((level, index))
        return EMPTY_ROOT

    build(record)
    return seen


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2) --------------------------------------------------


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes) -> bool:
    """Whether ``path`` proves ``leaf`` (a leaf hash) is leaf ``index`` of (``size``, ``expected_root``)."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether ``proof`` proves the tree (``new``, ``new_root``) extends (``old``, ``old_root``)."""
    if old == new:
        return not proof and old_root == new_root
    if not 0 < old < new or not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the first node of the proof
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


# --- appending -------------------------------------------------------------------------------------


def frontier_keys(size: int) -> list[tuple[int, int]]:
    """The complete subtrees on the right edge of a tree of ``size``: all an append needs."""
    return blocks(0, size)


def append(
    frontier: Sequence[tuple[int, int, bytes]], size: int, leaves: Iterable[bytes]
) -> tuple[list[tuple[int, int, bytes]], list[tuple[int, int, bytes]], int]:
    """Append leaf hashes to a tree given its frontier ``(level, index, hash)``, largest first.

    Returns the new complete subtrees to store (each leaf and every node that
    became complete), the new frontier and the new size. Amortised, two nodes
    per leaf.
    """
    stack = list(frontier)
    created: list[tuple[int, int, bytes]] = []
    for leaf in leaves:
        level, index, digest = 0, size, leaf
        created.append((level, index, digest))
        while stack and stack[-1][0] == level:
            _, left_index, left = stack.pop()
            level, index, digest = level + 1, left_index >> 1, node_hash(left, digest)
            created.append((level, index, digest))
        stack.append((level, index, digest))
        size += 1
    return created, stack, size


def frontier_root(frontier: Sequence[tuple[int, int, bytes]]) -> bytes:
    """The root of a tree from its frontier (the frontier's hashes folded from the right)."""
    if not frontier:
        return EMPTY_ROOT
    acc = frontier[-1][2]
    for _, _, left in reversed(frontier[:-1]):
        acc = node_hash(left, acc)
    return acc


def nodes_of(leaves: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete subtree of a list of leaf hashes (for tests and small trees)."""
    created, _, _ = append([], 0, leaves)
    return {(level, index): digest for level, index, digest in created}


def reference_root(leaves: Sequence[bytes]) -> bytes:
    """MTH straight from RFC 9162 2.1.1's recursive definition (for tests: slow, independent)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = split(n)
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))
