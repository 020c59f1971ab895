"""moderation review: appeals, rescan findings and review decisions (the audit)

Revision ID: 0920_moderation_review
Revises: 0001 (depends on 0600, the moderation tables)
"""

from __future__ import annotations

from alembic import op

revision = "0920_moderation_review"
down_revision = "0001"
branch_labels = ("moderation_review",)
depends_on = "0600"


def upgrade() -> None:
    # The API inserts one appeal per message: INSERT ... ON CONFLICT (message_id) DO NOTHING.
    op.execute(
        """
        CREATE TABLE moderation_appeals (
            id bigserial PRIMARY KEY,
            message_id uuid NOT NULL UNIQUE,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            reason text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # What `yoked moderation rescan` found on an already judged message with a newer engine:
    # it goes to review, it never strikes by itself.
    op.execute(
        """
        CREATE TABLE moderation_rescan_findings (
            id bigserial PRIMARY KEY,
            message_id uuid NOT NULL,
            sender_id uuid NOT NULL,
            engine_version text NOT NULL,
            previous_decision text,
            decision text NOT NULL CHECK (decision IN ('clean', 'flagged', 'hidden')),
            categories text[] NOT NULL DEFAULT '{}',
            scores jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (message_id, engine_version)
        )
        """
    )
    # One row per decision, never updated: the audit. ``subject`` is 'verdict' (the job's verdict
    # and any appeal against it) or 'rescan:<finding id>'; one decision per subject.
    op.execute(
        """
        CREATE TABLE moderation_review_decisions (
            id bigserial PRIMARY KEY,
            message_id uuid NOT NULL,
            subject text NOT NULL,
            outcome text NOT NULL CHECK (outcome IN ('upheld', 'overturned')),
            reviewer text NOT NULL,
            reason text NOT NULL,
            effects jsonb NOT NULL DEFAULT '{}',
            categories text[] NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            UNIQUE (message_id, subject)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE moderation_review_decisions")
    op.execute("DROP TABLE moderation_rescan_findings")
    op.execute("DROP TABLE moderation_appeals")
