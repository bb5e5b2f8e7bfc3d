"""The transparency log: per-entity hash chains, sealed positions and the Merkle tree.

Events written from here on chain to their own entity's previous event, not
to a global head: the ``chain_head`` row every writer locked is dropped.
Their global position is given after commit by the sealer (``position``),
which appends each event's hash to an RFC 9162 Merkle tree stored as its
complete subtrees (``tree_node``) under a head (``tree_head``).

Existing events keep their single chain and their hashes: they are sealed
here, in their existing order (``position = `` their rank by ``seq``), and
``filiere_meta.entity_chains_from`` records the first ``seq`` that is chained
per entity, so verification knows which rule links which event.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from workflow import merkle

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The ``filiere_meta`` key of the first per-entity-chained seq.
BOUNDARY = "entity_chains_from"


def upgrade() -> None:
    """Add the position and the tree; seal the existing events; drop the chain head."""
    bind = op.get_bind()
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_event_position", ["position"], unique=True)
        batch_op.create_index(
            "ix_event_unsealed",
            ["seq"],
            unique=False,
            sqlite_where=sa.text("position IS NULL"),
            postgresql_where=sa.text("position IS NULL"),
        )
    op.create_table(
        "tree_node",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_tree_node")),
    )
    tree_head = op.create_table(
        "tree_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tree_head")),
    )
    last = int(bind.execute(sa.text("SELECT coalesce(max(seq), 0) FROM event")).scalar_one())
    if bind.dialect.name == "postgresql":
        op.execute(f"CREATE SEQUENCE event_seq START WITH {last + 1}")
    op.execute(
        sa.text("INSERT INTO filiere_meta (key, value) VALUES (:k, :v)").bindparams(
            k=BOUNDARY, v=str(last + 1)
        )
    )
    size, root = _seal_existing(bind)
    op.bulk_insert(tree_head, [{"id": 1, "size": size, "root": root}])
    op.drop_table("chain_head")


def _seal_existing(bind: sa.Connection) -> tuple[int, str]:
    """Append every existing event, by seq, to the tree; return its size and root."""
    events = bind.execute(sa.text("SELECT seq, hash FROM event ORDER BY seq")).all()
    frontier: list[tuple[int, int, bytes]] = []
    size = 0
    for start in range(0, len(events), 10_000):
        chunk = events[start : start + 10_000]
        leaves = [merkle.leaf_hash(bytes.fromhex(h)) for _, h in chunk]
        first = size
        created, frontier, size = merkle.append(frontier, size, leaves)
        bind.execute(
            sa.text("INSERT INTO tree_node (level, idx, hash) VALUES (:l, :i, :h)"),
            [{"l": lv, "i": ix, "h": digest.hex()} for lv, ix, digest in created],
        )
        bind.execute(
            sa.text("UPDATE event SET position = :p WHERE seq = :s"),
            [{"p": first + k + 1, "s": seq} for k, (seq, _) in enumerate(chunk)],
        )
    return size, merkle.frontier_root(frontier).hex()


def downgrade() -> None:
    """Back to one chain head (only meaningful while no event was chained per entity)."""
    bind = op.get_bind()
    chain_head = op.create_table(
        "chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_head")),
    )
    last = bind.execute(sa.text("SELECT seq, hash FROM event ORDER BY seq DESC LIMIT 1")).first()
    op.bulk_insert(
        chain_head, [{"id": 1, "seq": last[0] if last else 0, "hash": last[1] if last else "0" * 64}]
    )
    op.execute(sa.text("DELETE FROM filiere_meta WHERE key = :k").bindparams(k=BOUNDARY))
    if bind.dialect.name == "postgresql":
        op.execute("DROP SEQUENCE event_seq")
    op.drop_table("tree_head")
    op.drop_table("tree_node")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_unsealed")
        batch_op.drop_index("ix_event_position")
        batch_op.drop_column("position")
