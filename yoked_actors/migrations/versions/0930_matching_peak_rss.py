"""matching: matching_runs.peak_rss_mb, the generating process's peak memory

Revision ID: 0930_matching_peak_rss
Revises: 0500
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0930_matching_peak_rss"
down_revision = "0500"
branch_labels = ("matching_memory",)
depends_on = None


def upgrade() -> None:
    op.add_column("matching_runs", sa.Column("peak_rss_mb", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("matching_runs", "peak_rss_mb")
