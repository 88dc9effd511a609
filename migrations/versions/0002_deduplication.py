"""deduplication: wire clusters, stories and their keys, LSH band keys, term and paragraph counts; dedup columns

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 21:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("representative_id", sa.Integer(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
    )
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stories_last_seen_at"), ["last_seen_at"], unique=False)

    op.create_table(
        "story_keys",
        sa.Column("term", sa.String(length=60), nullable=False),
        sa.Column("seen_epoch", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"], ["stories.id"], name=op.f("fk_story_keys_story_id_stories"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("term", "seen_epoch", "story_id", name=op.f("pk_story_keys")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("story_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_story_keys_story_id"), ["story_id"], unique=False)

    op.create_table(
        "term_counts",
        sa.Column("term", sa.String(length=60), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term", name=op.f("pk_term_counts")),
    )
    op.create_table(
        "paragraph_counts",
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("clusters", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_paragraph_counts")),
    )
    op.create_table(
        "wire_clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=True),
        sa.Column("representative_id", sa.Integer(), nullable=True),
        sa.Column("agency", sa.String(length=40), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"], ["stories.id"], name=op.f("fk_wire_clusters_story_id_stories"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wire_clusters")),
    )
    with op.batch_alter_table("wire_clusters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wire_clusters_story_id"), ["story_id"], unique=False)

    op.create_table(
        "lsh_bands",
        sa.Column("band_key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seen_epoch", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name=op.f("fk_lsh_bands_article_id_articles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("band_key", "seen_epoch", "article_id", name=op.f("pk_lsh_bands")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("lsh_bands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lsh_bands_article_id"), ["article_id"], unique=False)

    with op.batch_alter_table("article_feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))

    # Existing articles keep everything; their dedup columns stay empty (revisions 0) until they change.
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wire_cluster_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("story_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("agency", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("agency_evidence", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("wire_method", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("wire_match_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("wire_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("story_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("revisions", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_articles_story_id"), ["story_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_articles_wire_cluster_id"), ["wire_cluster_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_articles_story_id_stories"), "stories", ["story_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_articles_wire_cluster_id_wire_clusters"),
            "wire_clusters",
            ["wire_cluster_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_articles_wire_cluster_id_wire_clusters"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_articles_story_id_stories"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_articles_wire_cluster_id"))
        batch_op.drop_index(batch_op.f("ix_articles_story_id"))
        for column in (
            "updated_at",
            "revisions",
            "story_score",
            "wire_score",
            "wire_match_id",
            "wire_method",
            "agency_evidence",
            "agency",
            "story_id",
            "wire_cluster_id",
        ):
            batch_op.drop_column(column)

    with op.batch_alter_table("article_feeds", schema=None) as batch_op:
        batch_op.drop_column("entry_hash")

    with op.batch_alter_table("lsh_bands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lsh_bands_article_id"))
    op.drop_table("lsh_bands")
    with op.batch_alter_table("wire_clusters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wire_clusters_story_id"))
    op.drop_table("wire_clusters")
    op.drop_table("term_counts")
    with op.batch_alter_table("story_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_story_keys_story_id"))
    op.drop_table("story_keys")
    op.drop_table("paragraph_counts")
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stories_last_seen_at"))
    op.drop_table("stories")
