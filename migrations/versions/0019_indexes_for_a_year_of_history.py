"""Indexes for a year of history: article_feeds by (feed_id, first_seen_at), so that a feed's entries of the
week (its rhythm, at every poll) or its latest ones (whether it went silent) are found without reading every
entry it ever listed; articles by wire_match_id, so that an article's exact copies (found when its text
changes) are found without reading the whole table; deliveries by period, for the ledger's listing

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
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_articles_wire_match_id"), ["wire_match_id"], unique=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deliveries_period"), ["period"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_period"))
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_articles_wire_match_id"))
    with op.batch_alter_table("article_feeds", schema=None) as batch_op:
        batch_op.drop_index("ix_article_feeds_feed_id_first_seen_at")
