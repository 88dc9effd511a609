"""watchlist: the topics each article matched, with their evidence

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 21:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "article_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("snippet", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("watchlist", sa.String(length=20), nullable=False),
        sa.Column("matched_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_article_matches_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_matches")),
        sa.UniqueConstraint("article_id", "topic", name="uq_article_matches_article_id_topic"),
    )
    with op.batch_alter_table("article_matches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_article_matches_matched_at"), ["matched_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_article_matches_topic"), ["topic"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("article_matches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_article_matches_topic"))
        batch_op.drop_index(batch_op.f("ix_article_matches_matched_at"))

    op.drop_table("article_matches")
