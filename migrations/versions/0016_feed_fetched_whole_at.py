"""feeds: when the feed last came whole (a success with a body, not a 304), so that validators a server
keeps honouring while its content changes (a Last-Modified that never moves) hide a feed's news for a day
at most: the next poll after that asks without them

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fetched_whole_at", sa.DateTime(), nullable=True))
    # Not known for the polls before: the last success stands in for it, so that an upgrade does not make
    # every feed's next poll a whole fetch at once.
    op.execute("UPDATE feeds SET fetched_whole_at = last_success_at")


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("fetched_whole_at")
