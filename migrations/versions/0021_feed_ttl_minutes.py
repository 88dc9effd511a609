"""feeds: the <ttl> of the last document read in full, so that it holds off the polls after a 304 or the
same bytes too, which read no document

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 19:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty until each feed's next poll that reads it in full.
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ttl_minutes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("ttl_minutes")
