"""feeds: where a feed's address moved for good (its permanent redirects' end) and since when, so that
monitor feeds can say which addresses of feeds.yaml to change before the old ones stop answering

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 20:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty until each feed's next successful poll.
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("moved_to", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("moved_since", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("moved_since")
        batch_op.drop_column("moved_to")
