"""analytics: daily_metrics, and the event timestamps the metrics need on contract tables

Revision ID: 0800
Revises: 0001

The contract tables record a suspension, a token deactivation and a dropped notification only as
a state (``users.status``, ``push_tokens.active``, ``notifications.status``), which cannot say on
which day it happened. This adds ``users.suspended_at``, ``push_tokens.deactivated_at`` and
``notifications.dropped_at``, each set by a trigger when the state changes (so neither the API nor
the jobs have to change; a writer may also set it explicitly), and the indexes the daily
range queries use.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0800"
down_revision = "0001"
branch_labels = ("analytics",)
depends_on = None

# (table, column, function, condition under which the state was entered)
_STAMPS = (
    (
        "users",
        "suspended_at",
        "analytics_stamp_suspended_at",
        "NEW.status = 'suspended'",
        "OLD.status IS DISTINCT FROM 'suspended'",
        "status",
    ),
    (
        "push_tokens",
        "deactivated_at",
        "analytics_stamp_deactivated_at",
        "NOT NEW.active",
        "OLD.active",
        "active",
    ),
    (
        "notifications",
        "dropped_at",
        "analytics_stamp_dropped_at",
        "NEW.status = 'dropped'",
        "OLD.status IS DISTINCT FROM 'dropped'",
        "status",
    ),
)


def upgrade() -> None:
    op.create_table(
        "daily_metrics",
        sa.Column("metric_date", sa.Date(), nullable=False),
        sa.Column("metric", sa.Text(), nullable=False),
        sa.Column("dimension", sa.Text(), server_default="", nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("numerator", sa.BigInteger(), nullable=True),
        sa.Column("denominator", sa.BigInteger(), nullable=True),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("metric_date", "metric", "dimension", name="pk_daily_metrics"),
    )
    for table, column, function, entered, was_not, watched in _STAMPS:
        op.add_column(table, sa.Column(column, sa.DateTime(timezone=True)))
        op.create_index(
            f"ix_{table}_{column}",
            table,
            [column],
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
        )
        # Stamp the moment the row enters the state, unless the writer set the column itself.
        op.execute(
            f"""
            CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'INSERT' THEN
                IF {entered} AND NEW.{column} IS NULL THEN NEW.{column} := now(); END IF;
              ELSIF {entered} AND {was_not}
                    AND NEW.{column} IS NOT DISTINCT FROM OLD.{column} THEN
                NEW.{column} := now();
              END IF;
              RETURN NEW;
            END $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {function} BEFORE INSERT OR UPDATE OF {watched} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
    op.create_index("ix_notifications_sent_at", "notifications", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_sent_at", table_name="notifications")
    for table, column, function, *_ in _STAMPS:
        op.execute(f"DROP TRIGGER {function} ON {table}")
        op.execute(f"DROP FUNCTION {function}()")
        op.drop_index(f"ix_{table}_{column}", table_name=table)
        op.drop_column(table, column)
    op.drop_table("daily_metrics")
