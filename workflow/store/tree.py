"""The Merkle tree in the database, and the sealer that grows it.

Writers insert events unsealed (``position`` NULL), each linked only to its
own entity's previous event. The sealer, one at a time (an advisory lock on
PostgreSQL; SQLite's write lock, as it seals inside the writing transaction),
takes the committed unsealed events in ``seq`` order, gives them the next
positions, appends their leaves to the tree (RFC 9162: the leaf is the
event's 32-byte hash) and moves the tree head, all in one transaction: a
crash leaves a batch wholly sealed or not at all.

The tree is stored as its complete subtrees (``tree_node``), written once;
the right edge of the tree (at most log2 n nodes) is all an append reads, and
a proof or any past root folds O(log n) of them, fetched in one query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, bindparam, insert, select, tuple_, update

from workflow import merkle
from workflow.errors import DatabaseError
from workflow.store.firesql import run_sql
from workflow.store.tables import EVENT, TREE_HEAD, TREE_NODE

#: The advisory lock key of the sealer on PostgreSQL ("FILS").
SEAL_LOCK = 0x46494C53
#: Events sealed per transaction at most.
BATCH = 5000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TreeHead:
    """The sealed tree: its size (the last position) and root hash (hex)."""

    size: int
    root: str


def leaf_of(event_hash: str) -> bytes:
    """The leaf hash of an event: the event's own hash is the leaf's content."""
    return merkle.leaf_hash(bytes.fromhex(event_hash))


def head(connection: Connection) -> TreeHead:
    """The tree head as stored (an empty tree if the sealer never ran)."""
    row = connection.execute(select(TREE_HEAD.c.size, TREE_HEAD.c.root).where(TREE_HEAD.c.id == 1)).first()
    return TreeHead(int(row.size), str(row.root)) if row else TreeHead(0, merkle.EMPTY_ROOT.hex())


def nodes(connection: Connection, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored complete subtrees named by ``keys``.

    Raises:
        DatabaseError: one is missing (the tree was damaged).
    """
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    found: dict[tuple[int, int], bytes] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        query = select(TREE_NODE.c.level, TREE_NODE.c.idx, TREE_NODE.c.hash).where(
            tuple_(TREE_NODE.c.level, TREE_NODE.c.idx).in_(chunk)
        )
        found.update({(r.level, r.idx): bytes.fromhex(r.hash) for r in connection.execute(query)})
    missing = [k for k in wanted if k not in found]
    if missing:
        raise DatabaseError(f"the Merkle tree is missing node(s) {missing[:3]} (damaged tree)")
    return found


def proved(connection: Connection, build: Callable[[merkle.NodeSource], T]) -> T:
    """Run ``build`` (a root or proof of :mod:`workflow.merkle`) on the stored nodes, fetched in one go."""
    found = nodes(connection, merkle.needed(build))
    return build(lambda level, index: found[(level, index)])


def root_at(connection: Connection, size: int) -> bytes:
    """The root the tree had when it held ``size`` leaves."""
    return proved(connection, lambda node: merkle.root(node, size))


def inclusion(connection: Connection, position: int, size: int) -> list[bytes]:
    """The audit path of the event at ``position`` in the tree of ``size``."""
    return proved(connection, lambda node: merkle.inclusion_path(node, position - 1, size))


def consistency(connection: Connection, old: int, new: int) -> list[bytes]:
    """The proof that the tree of ``new`` extends the tree of ``old``."""
    return proved(connection, lambda node: merkle.consistency_proof(node, old, new))


def seal(connection: Connection, *, wait: bool = True, limit: int = BATCH) -> dict[int, int] | None:
    """Seal up to ``limit`` committed unsealed events in this transaction; return ``{seq: position}``.

    On PostgreSQL the sealer's lock is taken for the transaction: with
    ``wait`` the call blocks until another sealer commits; without, it
    returns ``None`` at once if one is running.
    """
    if connection.dialect.name == "postgresql":
        if wait:
            run_sql(connection, "SELECT pg_advisory_xact_lock(%(k)s)", {"k": SEAL_LOCK})
        elif not run_sql(connection, "SELECT pg_try_advisory_xact_lock(%(k)s)", {"k": SEAL_LOCK}).fetchone()[
            0
        ]:
            return None
    rows = connection.execute(
        select(EVENT.c.seq, EVENT.c.hash).where(EVENT.c.position.is_(None)).order_by(EVENT.c.seq).limit(limit)
    ).all()
    if not rows:
        return {}
    return append(connection, head(connection), [(int(r.seq), str(r.hash)) for r in rows])


def append(connection: Connection, current: TreeHead, events: Sequence[tuple[int, str]]) -> dict[int, int]:
    """Give ``events`` (seq, hash) the positions after ``current``, grow the tree, move its head."""
    keys = merkle.frontier_keys(current.size)
    found = nodes(connection, keys)
    frontier = [(level, index, found[(level, index)]) for level, index in keys]
    created, frontier, size = merkle.append(frontier, current.size, [leaf_of(h) for _, h in events])
    connection.execute(
        insert(TREE_NODE), [{"level": lv, "idx": ix, "hash": digest.hex()} for lv, ix, digest in created]
    )
    positions = {seq: current.size + k + 1 for k, (seq, _) in enumerate(events)}
    _set_positions(connection, positions)
    root = merkle.frontier_root(frontier).hex()
    moved = connection.execute(update(TREE_HEAD).where(TREE_HEAD.c.id == 1).values(size=size, root=root))
    if moved.rowcount == 0:
        connection.execute(insert(TREE_HEAD).values(id=1, size=size, root=root))
    return positions


def _set_positions(connection: Connection, positions: dict[int, int]) -> None:
    connection.execute(_POSITION, [{"s": seq, "p": position} for seq, position in positions.items()])


_POSITION = update(EVENT).where(EVENT.c.seq == bindparam("s")).values(position=bindparam("p"))
