"""feeds.unwatched: the stretches a feed was not watched (the daemon away), which its rhythm leaves out

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty on existing feeds: an absence before the upgrade counts as watched, as it did.
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unwatched", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("unwatched")
