"""wire_clusters.longest_body: the longest member's body length, so a joining copy is weighed against the
representative alone instead of every member's text being read again

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 18:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Left empty on existing clusters: the first copy to join one has its representative chosen over every
    # member, as before, which fills it in.
    with op.batch_alter_table("wire_clusters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("longest_body", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wire_clusters", schema=None) as batch_op:
        batch_op.drop_column("longest_body")
