"""Feedback that teaches: one vote per person per answer (with a reason), situations
learned per workspace, and questions asked of the leads channel.

Revision ID: 0005_feedback_that_teaches
Revises: 0004_answered_threads
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_feedback_that_teaches"
down_revision: str | None = "0004_answered_threads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("feedback", sa.Column("reason", sa.String(32)))
    op.create_index("ix_feedback_vote", "feedback", ["query_id", "user_id", "tip_id"])

    op.create_table(
        "learned_situations",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("tip_id", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(32)),
    )
    op.create_index("ix_learned_situations_team", "learned_situations", ["team_id", "created_at"])

    op.create_table(
        "lead_requests",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("team_id", sa.String(32)),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("ts", sa.String(32)),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("query_id", RowId, sa.ForeignKey("query_log.id", ondelete="SET NULL")),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_lead_requests_thread", "lead_requests", ["channel", "ts"])
    op.create_index("ix_lead_requests_query", "lead_requests", ["query_id", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_lead_requests_query", table_name="lead_requests")
    op.drop_index("ix_lead_requests_thread", table_name="lead_requests")
    op.drop_table("lead_requests")
    op.drop_index("ix_learned_situations_team", table_name="learned_situations")
    op.drop_table("learned_situations")
    op.drop_index("ix_feedback_vote", table_name="feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("reason")
