"""feeds: who holds a lease (host, process id and the process's start time), so that a lease left by a
process that no longer exists on this host is taken over at once rather than after it runs out

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("lease_pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("lease_pid_started", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("lease_pid_started")
        batch_op.drop_column("lease_pid")
        batch_op.drop_column("lease_host")
