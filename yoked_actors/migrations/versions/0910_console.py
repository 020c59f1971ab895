"""console: console_users, console_sessions, console_audit, schedule_pauses; paused fires

Revision ID: 0910_console
Revises: 0400
Depends on: 0300
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0910_console"
down_revision = "0400"
branch_labels = ("console",)
depends_on = ("0300",)


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("role IN ('viewer', 'operator')", name=op.f("ck_console_users_role")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_console_users")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column(
            "user_name",
            sa.Text(),
            sa.ForeignKey("console_users.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_sessions")),
    )
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])
    op.create_table(
        "console_audit",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("user_name", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_audit")),
    )
    op.create_index("ix_console_audit_at", "console_audit", ["at"])
    op.create_table(
        "schedule_pauses",
        sa.Column("schedule", sa.Text(), nullable=False),
        sa.Column("paused_by", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "paused_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("schedule", name=op.f("pk_schedule_pauses")),
    )
    # A fire skipped because its schedule is paused is recorded, like a missed one.
    op.drop_constraint(op.f("ck_schedule_fires_status"), "schedule_fires", type_="check")
    op.create_check_constraint(
        "status",
        "schedule_fires",
        "status IN ('claimed', 'enqueued', 'missed', 'paused')",
    )
    # The runs page pages by (updated_at, message_id) newest first, filtered or not.
    op.create_index(
        "ix_job_runs_updated_message",
        "job_runs",
        [sa.text("updated_at DESC"), sa.text("message_id DESC")],
    )
    op.create_index("ix_job_runs_queue_updated", "job_runs", ["queue", "updated_at"])
    op.create_index(
        "ix_job_runs_idempotency_key",
        "job_runs",
        ["idempotency_key"],
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index(
        "ix_job_runs_replay_of",
        "job_runs",
        ["replay_of"],
        postgresql_where=sa.text("replay_of IS NOT NULL"),
    )
    op.create_index(
        "ix_job_runs_schedule_fire",
        "job_runs",
        ["schedule_fire"],
        postgresql_where=sa.text("schedule_fire IS NOT NULL"),
    )


def downgrade() -> None:
    for index in (
        "ix_job_runs_schedule_fire",
        "ix_job_runs_replay_of",
        "ix_job_runs_idempotency_key",
        "ix_job_runs_queue_updated",
        "ix_job_runs_updated_message",
    ):
        op.drop_index(index, table_name="job_runs")
    op.execute("DELETE FROM schedule_fires WHERE status = 'paused'")
    op.drop_constraint(op.f("ck_schedule_fires_status"), "schedule_fires", type_="check")
    op.create_check_constraint(
        "status", "schedule_fires", "status IN ('claimed', 'enqueued', 'missed')"
    )
    op.drop_table("schedule_pauses")
    op.drop_index("ix_console_audit_at", table_name="console_audit")
    op.drop_table("console_audit")
    op.drop_index("ix_console_sessions_expires_at", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_users")
