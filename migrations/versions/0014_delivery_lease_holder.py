"""deliveries: who holds a lease (host, process id and the process's start time), as feeds have since 0009,
so that a delivery whose sender died on this host is sent again at once rather than once its lease runs out

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 11:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("lease_pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("lease_pid_started", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("lease_pid_started")
        batch_op.drop_column("lease_pid")
        batch_op.drop_column("lease_host")
