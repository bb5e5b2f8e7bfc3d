"""Webhooks: retry state in the database, credentials apart from the URL, private destinations.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WEBHOOK = sa.table(
    "webhook", sa.column("id", sa.String), sa.column("url", sa.String), sa.column("credentials", sa.String)
)


def upgrade() -> None:
    """Add ``credentials``, ``allow_private`` and ``next_attempt_at``; move credentials out of URLs."""
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("credentials", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True)
        )
        batch_op.add_column(
            sa.Column("allow_private", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    connection = op.get_bind()
    for hook_id, url in connection.execute(sa.select(WEBHOOK.c.id, WEBHOOK.c.url)).all():
        parts = urlsplit(url)
        if "@" in parts.netloc:
            credentials, _, hostport = parts.netloc.rpartition("@")
            connection.execute(
                WEBHOOK.update()
                .where(WEBHOOK.c.id == hook_id)
                .values(url=urlunsplit(parts._replace(netloc=hostport)), credentials=credentials)
            )


def downgrade() -> None:
    """Put credentials back into their URLs; drop the three columns."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(WEBHOOK.c.id, WEBHOOK.c.url, WEBHOOK.c.credentials).where(
            WEBHOOK.c.credentials.is_not(None)
        )
    ).all()
    for hook_id, url, credentials in rows:
        parts = urlsplit(url)
        connection.execute(
            WEBHOOK.update()
            .where(WEBHOOK.c.id == hook_id)
            .values(url=urlunsplit(parts._replace(netloc=f"{credentials}@{parts.netloc}")))
        )
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("allow_private")
        batch_op.drop_column("credentials")
