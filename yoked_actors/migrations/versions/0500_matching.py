"""matching: matching_runs

Revision ID: 0500
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0500"
down_revision = "0001"
branch_labels = ("matching",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "matching_runs",
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("status", sa.Text(), server_default="running", nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="1", nullable=False),
        sa.Column("chunks_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("eligible_users", sa.Integer(), nullable=True),
        sa.Column("users_with_offers", sa.Integer(), nullable=True),
        sa.Column("offers_selected", sa.Integer(), nullable=True),
        sa.Column("offers_written", sa.Integer(), server_default="0", nullable=False),
        sa.Column("mean_score", sa.Double(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'completed')", name=op.f("ck_matching_runs_status")
        ),
        sa.PrimaryKeyConstraint("timezone", "local_date", name=op.f("pk_matching_runs")),
    )


def downgrade() -> None:
    op.drop_table("matching_runs")
