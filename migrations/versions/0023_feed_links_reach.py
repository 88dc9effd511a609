"""feeds: how far the links of a feed may go, as its last successful poll found it (by the address that
answered), so that the links of pushed content and retried pages are judged by it and not by a lookup made
later, which DNS rebinding could turn

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 08:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty until each feed's next successful poll: its links reach public addresses only until then.
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("links_reach", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("links_reach")
