"""articles: a page that failed for a passing reason is fetched again later (attempts and next time)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("page_retries", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("page_retry_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_articles_page_retry_at"), ["page_retry_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_articles_page_retry_at"))
        batch_op.drop_column("page_retry_at")
        batch_op.drop_column("page_retries")
