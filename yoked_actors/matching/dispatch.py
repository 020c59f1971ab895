"""The job side of ``matching.dispatch_daily``: start each timezone's daily matches once, at
09:00 local (docs/matching.md, docs/scheduling.md).

Scheduled every 15 minutes in UTC (``schedules.py``): every IANA timezone's offset is a
multiple of 15 minutes (+05:30, +05:45, +13:45 included), so 09:00 local falls on a run. Each
run:

1. finds the timezones of active users (``store.ACTIVE_USER``: active, not deleted, seen in the
   last 14 days; profiles are the generator's business), in one transaction;
2. for each whose local clock is in [09:00, 12:00) (the 12:00 cut-off bounds how late a
   dispatch may happen after an outage: a day missed past noon is not generated late),
3. claims (timezone, local date) in ``daily_dispatches`` (primary key, ON CONFLICT DO NOTHING)
   and, in the same transaction, enqueues ``matching.generate_daily`` with
   ``{"timezone": ..., "local_date": "YYYY-MM-DD"}``. If the enqueue fails the claim rolls back
   and the job is retried; a claim that commits was enqueued.

Idempotent: a rerun, a second scheduler's fire or a redelivery finds the claims and enqueues
nothing. A user who moved timezone is counted in their current one; that a user never gets two
batches for one local date is the generator's rule (``matching.generation``).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from typing import Any

import dramatiq

from yoked_actors.clock import zone_strict
from yoked_actors.db import session_scope
from yoked_actors.jobs import JOBS, get_job
from yoked_actors.matching import store

logger = logging.getLogger(__name__)

GENERATE_ACTOR = "matching.generate_daily"
#: Local wall-clock window in which a timezone's day is dispatched.
DISPATCH_FROM = time(9, 0)
DISPATCH_UNTIL = time(12, 0)


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


def active_timezones(now: datetime) -> dict[str, int]:
    """Active users by timezone name."""
    with session_scope() as session:
        return store.active_users_by_timezone(session, now)


def claim_and_send(timezone: str, local_date: date, users: int) -> bool:
    """Claim (timezone, local date) and enqueue its generation, atomically. False: already
    claimed. Raises the broker's error (nothing claimed) if the enqueue fails."""
    with session_scope() as session:
        if not store.claim_dispatch(session, timezone, local_date, users):
            return False
        message = send_generation(timezone, local_date)
        store.record_dispatch_message(session, timezone, local_date, message.message_id)
    return True


def dispatch_due(now: datetime) -> dict[str, int]:
    """Dispatch the daily matches of every timezone that reached 09:00 local, once per local
    date. Returns counts: timezones seen, dispatched, already dispatched, outside the window,
    unknown timezone names (logged, skipped); ``generator_missing`` when nothing could be."""
    summary = {"timezones": 0, "dispatched": 0, "already": 0, "outside_window": 0, "invalid": 0}
    if not generator_declared():
        # A deployment without the generator: claim nothing, so that the days are dispatched
        # (until the noon cut-off) once it is deployed.
        logger.error("dispatch_daily: %s is not declared; nothing dispatched", GENERATE_ACTOR)
        summary["generator_missing"] = 1
        return summary
    for timezone, users in sorted(active_timezones(now).items()):
        summary["timezones"] += 1
        summary[_dispatch_one(timezone, users, now)] += 1
    return summary


def _dispatch_one(timezone: str, users: int, now: datetime) -> str:
    """Dispatch one timezone if its day is due; returns the summary count it adds to."""
    try:
        local_date = local_date_due(timezone, now)
    except ValueError:
        logger.warning("dispatch_daily: %d users have an unknown timezone %r", users, timezone)
        return "invalid"
    if local_date is None:
        return "outside_window"
    if not claim_and_send(timezone, local_date, users):
        return "already"
    logger.info("dispatch_daily: %s %s dispatched (%d users)", timezone, local_date, users)
    return "dispatched"
