"""websub_subscriptions: the callback each subscription was asked for at, so that a changed
settings.websub.callback_url is given to the hubs at the next poll rather than at the renewal

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty for the subscriptions asked before: taken to be at the callback configured; the next renewal says.
    with op.batch_alter_table("websub_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("websub_subscriptions", schema=None) as batch_op:
        batch_op.drop_column("callback")
