"""Proofs from the stored Merkle tree: an event is in the log, a later log extends an earlier one.

Each answer carries everything an RFC 9162 verifier needs (leaf index, tree
size, root, path), in hex, so an applicant or an auditor can check it with
:mod:`workflow.merkle`'s verification functions or any CT-compatible tool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from workflow.errors import InvalidInput, NotFound
from workflow.store import tree
from workflow.store.db import reading
from workflow.store.tables import EVENT

if TYPE_CHECKING:
    from sqlalchemy import Engine


def inclusion(db: Engine, seq: int, size: int | None = None) -> dict[str, Any]:
    """The inclusion proof of event ``seq`` in the tree of ``size`` leaves (the current tree by default).

    Raises:
        NotFound: no such event, or it is not sealed yet.
        InvalidInput: ``size`` is beyond the tree or before the event.
    """
    with reading(db) as connection:
        row = connection.execute(select(EVENT.c.position, EVENT.c.hash).where(EVENT.c.seq == seq)).first()
        if row is None or row.position is None:
            raise NotFound("sealed event", str(seq))
        head = tree.head(connection)
        size = head.size if size is None else size
        if not row.position <= size <= head.size:
            raise InvalidInput("size", f"must be between {row.position} and {head.size}")
        path = tree.inclusion(connection, row.position, size)
        root = tree.root_at(connection, size)
    return {
        "seq": seq,
        "position": row.position,
        "hash": row.hash,
        "leaf_index": row.position - 1,
        "tree_size": size,
        "root": root.hex(),
        "path": [node.hex() for node in path],
    }


def consistency(db: Engine, old: int, new: int | None = None) -> dict[str, Any]:
    """The proof that the tree of ``new`` leaves (the current one by default) extends the tree of ``old``.

    Raises:
        InvalidInput: the sizes are not 1 <= old <= new <= the tree's size.
    """
    with reading(db) as connection:
        head = tree.head(connection)
        new = head.size if new is None else new
        if not 1 <= old <= new <= head.size:
            raise InvalidInput("size", f"need 1 <= old <= new <= {head.size}")
        proof = tree.consistency(connection, old, new)
        old_root, new_root = tree.root_at(connection, old), tree.root_at(connection, new)
    return {
        "old_size": old,
        "new_size": new,
        "old_root": old_root.hex(),
        "new_root": new_root.hex(),
        "path": [node.hex() for node in proof],
    }
