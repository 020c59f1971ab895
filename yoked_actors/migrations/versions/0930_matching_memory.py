"""matching: the generating process's peak memory, and sharded runs

``matching_runs.peak_rss_mb``: the peak resident set size (MiB) of the process that generated
the run. ``matching_runs.shard_cuts``: the longitudes that split a sharded run into bands (fixed
by its first attempt; NULL: not sharded). ``matching_shards``: one row per band of a sharded
run, completed once its offers are written.

Revision ID: 0930_matching_memory
Revises: 0500
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0930_matching_memory"
down_revision = "0500"
branch_labels = ("matching_memory",)
depends_on = None


def upgrade() -> None:
    op.add_column("matching_runs", sa.Column("peak_rss_mb", sa.Integer(), nullable=True))
    op.add_column(
        "matching_runs",
        sa.Column("shard_cuts", postgresql.ARRAY(sa.Double()), nullable=True),
    )
    op.create_table(
        "matching_shards",
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), server_default="running", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("eligible_users", sa.Integer(), nullable=True),
        sa.Column("offers_selected", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("peak_rss_mb", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'completed')", name=op.f("ck_matching_shards_status")
        ),
        sa.ForeignKeyConstraint(
            ["timezone", "local_date"],
            ["matching_runs.timezone", "matching_runs.local_date"],
            name=op.f("fk_matching_shards_timezone_matching_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("timezone", "local_date", "shard", name=op.f("pk_matching_shards")),
    )


def downgrade() -> None:
    op.drop_table("matching_shards")
    op.drop_column("matching_runs", "shard_cuts")
    op.drop_column("matching_runs", "peak_rss_mb")
