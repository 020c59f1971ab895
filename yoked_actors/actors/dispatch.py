"""`matching.dispatch_daily`: start each timezone's daily matches once, at 09:00 local.

Scheduled every 15 minutes in UTC (schedules.py): every IANA timezone's offset is a multiple of
15 minutes (+05:30, +05:45, +13:45 included), so 09:00 local falls on a run. Each run:

1. finds the timezones of eligible users: active, not deleted, active in the last 14 days;
2. for each whose local clock is in [09:00, 12:00) (the 12:00 cut-off bounds how late a
   dispatch may happen after an outage: a day missed past noon is not generated late),
3. claims (timezone, local date) in ``daily_dispatches`` (primary key, ON CONFLICT DO NOTHING)
   and, in the same transaction, enqueues ``matching.generate_daily`` with
   ``{"timezone": ..., "local_date": "YYYY-MM-DD"}``. If the enqueue fails the claim rolls back
   and the job is retried; a claim that commits was enqueued.

Idempotent: a rerun, a second scheduler's fire or a redelivery finds the claims and enqueues
nothing. A user who moved timezone is counted in their current one; that generation never
offers a user two batches for one local date is the generator's rule (DESIGN.md, job 1).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import dramatiq
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from yoked_actors.clock import zone_strict
from yoked_actors.db import session_scope
from yoked_actors.jobs import JOBS, get_job, job
from yoked_actors.models.contract import User
from yoked_actors.models.scheduling import DailyDispatch
from yoked_actors.queues import Queue

logger = logging.getLogger(__name__)

GENERATE_ACTOR = "matching.generate_daily"
#: Local wall-clock window in which a timezone's day is dispatched.
DISPATCH_FROM = time(9, 0)
DISPATCH_UNTIL = time(12, 0)
#: Users not seen for longer get no daily matches.
ACTIVE_WITHIN = timedelta(days=14)


class DispatchPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Reference instant (ISO, with offset); default now. For operators and tests.
    now: datetime | None = None


def local_date_due(timezone: str, now: datetime) -> date | None:
    """The local date to dispatch in ``timezone`` at ``now``, or None outside 09:00-12:00.

    Raises ValueError for an unknown timezone name.
    """
    local = now.astimezone(zone_strict(timezone))
    if DISPATCH_FROM <= local.time() < DISPATCH_UNTIL:
        return local.date()
    return None


def send_generation(timezone: str, local_date: date) -> dramatiq.Message[Any]:
    """Enqueue one timezone's generation for one local date (confirmed by RabbitMQ)."""
    return get_job(GENERATE_ACTOR).send(
        {"timezone": timezone, "local_date": local_date.isoformat()},
        idempotency_key=f"daily-matches:{timezone}:{local_date.isoformat()}",
    )


def generator_declared() -> bool:
    """Whether this process declares ``matching.generate_daily``."""
    return GENERATE_ACTOR in JOBS


def eligible_timezones(now: datetime) -> dict[str, int]:
    """Eligible users by timezone name."""
    with session_scope() as session:
        rows = session.execute(
            select(User.timezone, func.count())
            .where(
                User.status == "active",
                User.deleted_at.is_(None),
                User.last_active_at >= now - ACTIVE_WITHIN,
            )
            .group_by(User.timezone)
        ).all()
    return {timezone: count for timezone, count in rows}


def claim_and_send(timezone: str, local_date: date, users: int) -> bool:
    """Claim (timezone, local date) and enqueue its generation, atomically. False: already
    claimed. Raises the broker's error (nothing claimed) if the enqueue fails."""
    with session_scope() as session:
        claimed = session.execute(
            insert(DailyDispatch)
            .values(timezone=timezone, local_date=local_date, users=users)
            .on_conflict_do_nothing(index_elements=["timezone", "local_date"])
            .returning(DailyDispatch.timezone)
        ).first()
        if claimed is None:
            return False
        message = send_generation(timezone, local_date)
        session.execute(
            update(DailyDispatch)
            .where(DailyDispatch.timezone == timezone, DailyDispatch.local_date == local_date)
            .values(message_id=message.message_id)
        )
    return True


@job(
    "matching.dispatch_daily",
    queue=Queue.MAINTENANCE,
    payload=DispatchPayload,
    max_retries=3,
    time_limit=120_000,
)
def dispatch_daily(payload: DispatchPayload) -> dict[str, int]:
    """Dispatch the daily matches of every timezone that reached 09:00 local, once per local
    date. Returns counts: timezones seen, dispatched, already dispatched, outside the window,
    unknown timezone names (logged, skipped)."""
    now = payload.now or datetime.now(UTC)
    summary = {"timezones": 0, "dispatched": 0, "already": 0, "outside_window": 0, "invalid": 0}
    if not generator_declared():
        # A deployment without the generator: claim nothing, so that the days are dispatched
        # (until the noon cut-off) once it is deployed.
        logger.error("dispatch_daily: %s is not declared; nothing dispatched", GENERATE_ACTOR)
        summary["generator_missing"] = 1
        return summary
    for timezone, users in sorted(eligible_timezones(now).items()):
        summary["timezones"] += 1
        try:
            local_date = local_date_due(timezone, now)
        except ValueError:
            summary["invalid"] += 1
            logger.warning("dispatch_daily: %d users have an unknown timezone %r", users, timezone)
            continue
        if local_date is None:
            summary["outside_window"] += 1
        elif claim_and_send(timezone, local_date, users):
            summary["dispatched"] += 1
            logger.info("dispatch_daily: %s %s dispatched (%d users)", timezone, local_date, users)
        else:
            summary["already"] += 1
    return summary
