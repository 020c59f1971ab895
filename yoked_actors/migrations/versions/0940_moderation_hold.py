"""moderation hold: a verdict's provenance, and strikes held for review

``moderation_results.rules_categories``: the categories that counted on the rules' own scores
(lexicons, detectors), without the learned classifier or the remote provider.
``moderation_results.held``: the message was hidden only on the learned classifier's (or the
provider's) word, so it waits for a person instead of suspending its sender at once.
``user_strikes.held``: that verdict's strike, which counts towards the strike limit but is not a
reason to suspend by itself until a person upholds the verdict (then it becomes false).
Rows written before this migration were judged under the old rule and keep ``held = false``.

Revision ID: 0940_moderation_hold
Revises: 0600
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0940_moderation_hold"
down_revision = "0600"
branch_labels = ("moderation_hold",)
depends_on = None


def upgrade() -> None:
    op.add_column(
        "moderation_results",
        sa.Column(
            "rules_categories",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
    )
    op.add_column(
        "moderation_results",
        sa.Column("held", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "user_strikes",
        sa.Column("held", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("user_strikes", "held")
    op.drop_column("moderation_results", "held")
    op.drop_column("moderation_results", "rules_categories")
