"""`analytics.aggregate_daily`: the previous UTC day's product metrics into `daily_metrics`.

Scheduled shortly after midnight UTC. It computes the target day and recomputes the
``settle_days`` days before it (default 8), each day in its own transaction, so offers answered
or expired after their day and D7 retention settle. Idempotent: a rerun rewrites nothing that did
not change (:mod:`yoked_actors.analytics.store`). Retried on transient faults; a day that fails
rolls back alone. docs/analytics.md defines every metric.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from yoked_actors.analytics.daily import SETTLE_DAYS, aggregate_day, yesterday_utc
from yoked_actors.db import session_scope
from yoked_actors.jobs import job
from yoked_actors.queues import Queue

logger = logging.getLogger(__name__)


class AggregatePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The UTC day to compute (ISO date); default yesterday in UTC.
    day: date | None = None
    #: How many days before ``day`` to recompute as well.
    settle_days: int = Field(default=SETTLE_DAYS, ge=0, le=60)
    #: Reference time for "yesterday" (ISO); default now. An injectable clock for tests.
    now: datetime | None = None


def aggregate_range(first: date, last: date) -> list[tuple[date, int, int]]:
    """Compute ``last`` back to ``first``, one transaction per day: [(day, metrics, changed)]."""
    done = []
    day = last
    while day >= first:
        with session_scope() as session:
            metrics, changed = aggregate_day(session, day)
        logger.info("analytics day %s: %d metrics, %d rows changed", day, metrics, changed)
        done.append((day, metrics, changed))
        day -= timedelta(days=1)
    return done


@job(
    "analytics.aggregate_daily",
    queue=Queue.ANALYTICS,
    payload=AggregatePayload,
    max_retries=3,
    min_backoff=30_000,
    max_backoff=600_000,
    time_limit=30 * 60_000,
)
def aggregate_daily(payload: AggregatePayload) -> dict[str, object]:
    """Store the metrics of ``day`` (default yesterday, UTC) and of the ``settle_days`` before."""
    day = payload.day or yesterday_utc(payload.now)
    done = aggregate_range(day - timedelta(days=payload.settle_days), day)
    return {
        "day": day.isoformat(),
        "days": len(done),
        "metrics": sum(m for _, m, _ in done),
        "rows_changed": sum(c for _, _, c in done),
    }
