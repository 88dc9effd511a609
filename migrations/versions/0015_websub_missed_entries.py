"""websub_subscriptions: when a poll last found entries the feed's hub had not pushed, and how many such
entries polls have found, so that a feed whose hub stopped pushing goes back to its own rhythm

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 13:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("websub_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("missed_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("missed", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("websub_subscriptions", schema=None) as batch_op:
        batch_op.drop_column("missed")
        batch_op.drop_column("missed_at")
