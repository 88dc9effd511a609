"""term_counts, paragraph_counts: when each was last counted, so that retention can drop the counts that
only pruned articles made

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 23:30:00.000000
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("term_counts", "paragraph_counts")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("last_counted", sa.BigInteger(), nullable=True))
        # When the counts already there were made is not known: as of now, so that they go one retention
        # window after the upgrade unless an article counts them again meanwhile.
        op.execute(sa.text(f"UPDATE {table} SET last_counted = :now").bindparams(now=int(time.time())))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("last_counted")
