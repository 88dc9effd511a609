"""feeds: since when a feed that still answers has been silent (its last publication, once the silence
counts: ``monitor.schedule.silence``), kept so that the daemon warns of it once, `monitor feeds` shows it
past the four weeks the silence is judged from, and /metrics counts the feeds silent now

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 16:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Judged again at each feed's next poll.
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("silent_since", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("silent_since")
