"""The reconciler's SQL: find work whose trigger was lost, in every domain's tables.

Read-only queries over the API's ``messages`` and the service's own tables; the reconciler
(:mod:`yoked_actors.reconcile`) re-sends the work through each domain's own idempotent job.
Functions take the caller's session and never begin, commit or roll back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from yoked_actors.sql import execute


def pending_messages(session: Session, sent_before: datetime, limit: int) -> list[Any]:
    """Messages still ``pending`` (never judged) that were sent before ``sent_before``: rows of
    (id, content, sender_id), oldest first."""
    return execute(
        session,
        "SELECT m.id, m.content, m.sender_id FROM messages m "
        "WHERE m.moderation_status = 'pending' AND m.created_at < :before "
        "AND NOT EXISTS (SELECT 1 FROM moderation_results r WHERE r.message_id = m.id) "
        "ORDER BY m.created_at LIMIT :limit",
        {"before": sent_before, "limit": limit},
    )


def unfinished_matching(session: Session, started_before: datetime) -> list[Any]:
    """(timezone, local_date) of daily matches dispatched or started before ``started_before``
    and never completed: a generation run left ``running``, or a dispatch with no run."""
    return execute(
        session,
        "SELECT r.timezone, r.local_date FROM matching_runs r "
        "WHERE r.status = 'running' AND r.started_at < :before "
        "UNION "
        "SELECT d.timezone, d.local_date FROM daily_dispatches d "
        "WHERE d.dispatched_at < :before AND NOT EXISTS (SELECT 1 FROM matching_runs r "
        "WHERE r.timezone = d.timezone AND r.local_date = d.local_date) "
        "ORDER BY 2, 1",
        {"before": started_before},
    )


def stuck_outbox(session: Session, available_before: datetime) -> int:
    """Outbox rows still unpublished although they were due before ``available_before``."""
    return int(
        execute(
            session,
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL "
            "AND available_at < :before",
            {"before": available_before},
        )[0][0]
    )


def stale_runs(session: Session, updated_before: datetime) -> int:
    """Runs recorded ``running`` whose row has not moved since ``updated_before``."""
    return int(
        execute(
            session,
            "SELECT count(*) FROM job_runs WHERE status = 'running' AND updated_at < :before",
            {"before": updated_before},
        )[0][0]
    )
