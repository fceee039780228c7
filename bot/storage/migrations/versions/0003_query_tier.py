"""How each lookup was answered (confident / unsure / decline / offtopic), for the report.

Revision ID: 0003_query_tier
Revises: 0002_pending_deliveries
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_query_tier"
down_revision: str | None = "0002_pending_deliveries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("query_log", sa.Column("tier", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("query_log") as batch:
        batch.drop_column("tier")
