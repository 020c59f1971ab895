"""notification batching: deliveries, and scheduling columns on notifications

Revision ID: 0700
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0700"
down_revision = "0001"
branch_labels = ("notifications",)
depends_on = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("deliver_after", sa.DateTime(timezone=True)))
    op.add_column("notifications", sa.Column("status_reason", sa.Text()))
    op.add_column("notifications", sa.Column("digest_id", sa.UUID()))
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("digest_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), server_default="sending", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("ticket_id", sa.Text(), nullable=True),
        sa.Column("receipt_status", sa.Text(), nullable=True),
        sa.Column("receipt_error", sa.Text(), nullable=True),
        sa.Column("receipt_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('sending', 'sent', 'failed', 'carried', 'unknown')",
            name=op.f("ck_notification_deliveries_state"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_deliveries_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["push_tokens.id"],
            name=op.f("fk_notification_deliveries_token_id_push_tokens"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
    )
    op.create_index(
        "ix_notification_deliveries_user", "notification_deliveries", ["user_id", "created_at"]
    )
    op.create_index(
        "ix_notification_deliveries_sending",
        "notification_deliveries",
        ["created_at"],
        postgresql_where=sa.text("state = 'sending'"),
    )
    op.create_index(
        "ix_notification_deliveries_awaiting_receipt",
        "notification_deliveries",
        ["sent_at"],
        postgresql_where=sa.text("state = 'sent' AND receipt_status IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("notification_deliveries")
    op.drop_column("notifications", "digest_id")
    op.drop_column("notifications", "status_reason")
    op.drop_column("notifications", "deliver_after")
