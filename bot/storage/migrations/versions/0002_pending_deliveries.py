"""Answers waiting to be delivered: a crash or a restart does not lose them.

Revision ID: 0002_pending_deliveries
Revises: 0001_initial
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_pending_deliveries"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_deliveries",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("team_id", sa.String(32)),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
    )
    op.create_index("ix_pending_deliveries_lease", "pending_deliveries", ["lease_until"])


def downgrade() -> None:
    op.drop_index("ix_pending_deliveries_lease", table_name="pending_deliveries")
    op.drop_table("pending_deliveries")
