"""pruned_entries: what stays of an article removed by retention, so that a feed still listing it does not
bring it back

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pruned_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.String(length=2048), nullable=False),
        sa.Column("guid", sa.String(length=2048), nullable=True),
        sa.Column("canonical_url", sa.String(length=2048), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feeds.id"], name=op.f("fk_pruned_entries_feed_id_feeds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pruned_entries")),
        sa.UniqueConstraint("feed_id", "entry_key", name="uq_pruned_entries_feed_id_entry_key"),
    )
    with op.batch_alter_table("pruned_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pruned_entries_guid"), ["guid"], unique=False)
        batch_op.create_index(batch_op.f("ix_pruned_entries_canonical_url"), ["canonical_url"], unique=False)
        batch_op.create_index(batch_op.f("ix_pruned_entries_seen_at"), ["seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pruned_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pruned_entries_seen_at"))
        batch_op.drop_index(batch_op.f("ix_pruned_entries_canonical_url"))
        batch_op.drop_index(batch_op.f("ix_pruned_entries_guid"))

    op.drop_table("pruned_entries")
