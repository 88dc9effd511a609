"""article_feeds: how long after its stated publication the article that a link brought in was stored, when
that delay is the daemon's (``monitor.schedule.news_delay``), so that ``monitor feeds`` can say how fresh
each feed's news comes

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 16:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not known for the links stored before: they stay empty, and count for nothing.
    with op.batch_alter_table("article_feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delay_seconds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("article_feeds", schema=None) as batch_op:
        batch_op.drop_column("delay_seconds")
