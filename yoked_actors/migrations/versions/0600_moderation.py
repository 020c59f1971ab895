"""moderation: moderation_results and user_strikes

Revision ID: 0600
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0600"
down_revision = "0001"
branch_labels = ("moderation",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "moderation_results",
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("sender_id", sa.UUID(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column(
            "categories",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column(
            "scores",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "signals",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("engine_version", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), server_default="local", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "outcome IN ('decided', 'skipped')", name=op.f("ck_moderation_results_outcome")
        ),
        sa.CheckConstraint(
            "decision IS NULL OR decision IN ('clean', 'flagged', 'hidden')",
            name=op.f("ck_moderation_results_decision"),
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_moderation_results")),
    )
    op.create_index(
        "ix_moderation_results_review",
        "moderation_results",
        ["created_at"],
        postgresql_where=sa.text("decision IN ('flagged', 'hidden')"),
    )
    op.create_index(op.f("ix_moderation_results_sender_id"), "moderation_results", ["sender_id"])
    op.create_table(
        "user_strikes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column(
            "categories",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_strikes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_strikes")),
        sa.UniqueConstraint("message_id", name=op.f("uq_user_strikes_message_id")),
    )
    op.create_index("ix_user_strikes_user_created", "user_strikes", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_table("user_strikes")
    op.drop_table("moderation_results")
