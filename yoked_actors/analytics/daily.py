"""One UTC day's metrics, computed and stored in the caller's transaction.

:func:`aggregate_day` reads the day's counts (:mod:`.store`), derives the metrics
(:mod:`.metrics`) and upserts them; a rerun over unchanged data rewrites nothing. The nightly job
(:mod:`yoked_actors.actors.analytics`) and ``yoked analytics backfill`` call it, one transaction
per day. docs/analytics.md defines every metric.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from yoked_actors.analytics import store
from yoked_actors.analytics.metrics import Metric, derive
from yoked_actors.clock import utc_now

#: The nightly run recomputes this many days before the target, so late rows (offers answered
#: or expired after their day, moderation that finished late) and D7 retention settle.
SETTLE_DAYS = 8


def compute_day(
    session: Session, day: date, *, timings: dict[str, float] | None = None
) -> list[Metric]:
    """Every metric of the UTC day ``day``, read in one snapshot; writes nothing.

    ``timings``, when given, receives each statement's wall time in seconds.
    """
    counts = store.day_counts(session, day, timings=timings)
    return [metric for family, rows in counts.items() for metric in derive(family, rows)]


def aggregate_day(
    session: Session, day: date, *, timings: dict[str, float] | None = None
) -> tuple[int, int]:
    """Compute and store one day in the caller's transaction: (metrics, rows changed)."""
    metrics = compute_day(session, day, timings=timings)
    return len(metrics), store.store_day(session, day, metrics)


def yesterday_utc(now: datetime | None = None) -> date:
    """The UTC date before ``now`` (default: the current time)."""
    return ((now or utc_now()).astimezone(UTC) - timedelta(days=1)).date()
