"""scheduling: schedule_fires (the fire ledger) and daily_dispatches

Revision ID: 0400
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0400"
down_revision = "0001"
branch_labels = ("scheduling",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedule_fires",
        sa.Column("schedule", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "claimed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("scheduler_id", sa.Text(), nullable=True),
        sa.Column("lateness_ms", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('claimed', 'enqueued', 'missed')", name=op.f("ck_schedule_fires_status")
        ),
        sa.PrimaryKeyConstraint("schedule", "due_at", name=op.f("pk_schedule_fires")),
    )
    op.create_index("ix_schedule_fires_due_at", "schedule_fires", ["due_at"])
    op.create_index("ix_schedule_fires_status_due_at", "schedule_fires", ["status", "due_at"])

    op.create_table(
        "daily_dispatches",
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column(
            "dispatched_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("users", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("timezone", "local_date", name=op.f("pk_daily_dispatches")),
    )


def downgrade() -> None:
    op.drop_table("daily_dispatches")
    op.drop_index("ix_schedule_fires_status_due_at", table_name="schedule_fires")
    op.drop_index("ix_schedule_fires_due_at", table_name="schedule_fires")
    op.drop_table("schedule_fires")
