"""article_feeds: an index on (feed_id, first_seen_at), so that reading a feed's entries of the week (its
rhythm, at every poll) or its latest ones (whether it went silent) no longer scans every entry it ever listed

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 18:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("article_feeds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_article_feeds_feed_id_first_seen_at", ["feed_id", "first_seen_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("article_feeds", schema=None) as batch_op:
        batch_op.drop_index("ix_article_feeds_feed_id_first_seen_at")
