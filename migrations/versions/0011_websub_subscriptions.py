"""websub_subscriptions: feeds subscribed at their WebSub hub, which pushes new content to the daemon

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 23:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "websub_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("hub", sa.String(length=2048), nullable=False),
        sa.Column("topic", sa.String(length=2048), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_push_at", sa.DateTime(), nullable=True),
        sa.Column("pushes", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feeds.id"], name=op.f("fk_websub_subscriptions_feed_id_feeds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_websub_subscriptions")),
        sa.UniqueConstraint("feed_id", name=op.f("uq_websub_subscriptions_feed_id")),
        sa.UniqueConstraint("token", name=op.f("uq_websub_subscriptions_token")),
    )
    with op.batch_alter_table("websub_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_websub_subscriptions_lease_until"), ["lease_until"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("websub_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_websub_subscriptions_lease_until"))
    op.drop_table("websub_subscriptions")
