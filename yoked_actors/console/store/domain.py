"""The console's reads of the domain tables: matching runs, the moderation review queue, push
deliveries and daily metrics.

SQLAlchemy expressions only (no SQL text), all values bound. Functions take a session in the
page's read-only transaction and never begin or commit. Nothing here selects a message's text:
the one read of it is :func:`yoked_actors.moderation.store.stored_content`, called only by the
audited reveal action.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yoked_actors import sql
from yoked_actors.models.analytics import DailyMetric
from yoked_actors.models.matching import MatchingRun
from yoked_actors.models.moderation import ModerationResult
from yoked_actors.models.notifications import NotificationDelivery

#: Decisions that put a message in the review queue.
REVIEW_DECISIONS = ("flagged", "hidden")


def matching_runs(session: Session, since: date, limit: int = 500) -> Sequence[MatchingRun]:
    """Matching runs of local dates from ``since`` on, newest day first, then by timezone."""
    return session.scalars(
        select(MatchingRun)
        .where(MatchingRun.local_date >= since)
        .order_by(MatchingRun.local_date.desc(), MatchingRun.timezone)
        .limit(limit)
    ).all()


def review_queue(
    session: Session, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> Sequence[Any]:
    """Flagged and hidden messages, newest first, after the keyset ``after`` (created_at,
    message_id): ids, decision, categories, whether it is held for review, time and the review's
    outcome if a person decided it (moderation/review.py), never the text."""
    keyset = "AND (r.created_at, r.message_id) < (:after_at, :after_id)" if after else ""
    after_at, after_id = after or (None, None)
    return sql.execute(
        session,
        f"""
        SELECT r.message_id, r.sender_id, r.decision, r.categories, r.signals, r.source,
               r.held, r.created_at, d.outcome AS review
        FROM moderation_results AS r
        LEFT JOIN moderation_review_decisions AS d
          ON d.message_id = r.message_id AND d.subject = 'verdict'
        WHERE r.decision IN ('flagged', 'hidden') {keyset}
        ORDER BY r.created_at DESC, r.message_id DESC
        LIMIT :limit
        """,
        {"after_at": after_at, "after_id": after_id, "limit": limit},
    )


def review_counts(session: Session) -> dict[str, int]:
    """How many messages are flagged, how many hidden, and how many of the hidden are held for
    review with no decision yet (each hides a message nobody has looked at)."""
    rows = session.execute(
        select(ModerationResult.decision, func.count())
        .where(ModerationResult.decision.in_(REVIEW_DECISIONS))
        .group_by(ModerationResult.decision)
    ).all()
    counts = {d: 0 for d in REVIEW_DECISIONS}
    counts.update({str(d): int(n) for d, n in rows})
    [(held,)] = sql.execute(
        session,
        """
        SELECT count(*) FROM moderation_results AS r
        WHERE r.held AND NOT EXISTS (SELECT 1 FROM moderation_review_decisions AS d
                                     WHERE d.message_id = r.message_id AND d.subject = 'verdict')
        """,
    )
    counts["held"] = int(held)
    return counts


def review_decision(session: Session, message_id: uuid.UUID) -> str | None:
    """The message's decision when it is in the review queue, else None."""
    return session.scalar(
        select(ModerationResult.decision).where(
            ModerationResult.message_id == message_id,
            ModerationResult.decision.in_(REVIEW_DECISIONS),
        )
    )


def delivery_states(session: Session, since: datetime) -> dict[str, int]:
    """Deliveries created since ``since``, counted per state."""
    rows = session.execute(
        select(NotificationDelivery.state, func.count())
        .where(NotificationDelivery.created_at >= since)
        .group_by(NotificationDelivery.state)
    ).all()
    return {str(state): int(n) for state, n in rows}


def delivery_errors(session: Session, since: datetime, limit: int) -> dict[str, list[Any]]:
    """The most common receipt errors and ticket errors of deliveries since ``since``."""
    found: dict[str, list[Any]] = {}
    for name, column in (
        ("receipt", NotificationDelivery.receipt_error),
        ("ticket", NotificationDelivery.error),
    ):
        n = func.count().label("n")
        found[name] = list(
            session.execute(
                select(column, n)
                .where(NotificationDelivery.created_at >= since, column.is_not(None))
                .group_by(column)
                .order_by(n.desc(), column)
                .limit(limit)
            ).all()
        )
    return found


def daily_totals(session: Session, metrics: Sequence[str], since: date) -> Sequence[DailyMetric]:
    """The day totals (dimension ``''``) of ``metrics`` from ``since`` on, oldest first."""
    return session.scalars(
        select(DailyMetric)
        .where(
            DailyMetric.metric.in_(list(metrics)),
            DailyMetric.dimension == "",
            DailyMetric.metric_date >= since,
        )
        .order_by(DailyMetric.metric_date)
    ).all()
