"""feeds: the SHA-256 of the last document read in full, kept as the validators are, so that a feed whose
server sends no validators (or ignores them) is known unchanged without being parsed

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 18:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty until each feed's next poll that reads it in full.
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("body_sha256")
