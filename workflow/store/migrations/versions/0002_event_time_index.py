"""Index events by time, for as-of queries and exports by period.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``ix_event_occurred_at``."""
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("ix_event_occurred_at", ["occurred_at"], unique=False)


def downgrade() -> None:
    """Drop ``ix_event_occurred_at``."""
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_occurred_at")
