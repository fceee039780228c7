"""Threads the bot answered in: a channel thread message is a follow-up only if its thread is here.

Revision ID: 0004_answered_threads
Revises: 0003_query_tier
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_answered_threads"
down_revision: str | None = "0003_query_tier"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answered_threads",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("thread_ts", sa.String(32), primary_key=True),
        sa.Column("answered_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_answered_threads_answered_at", "answered_threads", ["answered_at"])


def downgrade() -> None:
    op.drop_index("ix_answered_threads_answered_at", table_name="answered_threads")
    op.drop_table("answered_threads")
