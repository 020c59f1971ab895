"""The daily-matching jobs: ``matching.dispatch_daily``, ``matching.generate_daily`` and
``matching.expire_offers`` (docs/matching.md).

Each job validates its payload and hands it to its job-side module in ``yoked_actors.matching``,
which opens the transactions, calls the pure run and the store, and returns the summary:

- ``dispatch_daily`` (every 15 minutes): ``matching.dispatch`` claims each (timezone, local
  date) once at 09:00 local and enqueues its ``generate_daily``.
- ``generate_daily``: ``matching.generation`` gives every eligible user of one timezone up to
  three partners for one local date; idempotent and resumable per (timezone, local date).
- ``expire_offers`` (hourly): ``matching.expiration`` marks pending offers past ``expires_at``
  as expired, in batches, within a time budget.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from yoked_actors.clock import utc_now, zone_strict
from yoked_actors.jobs import job
from yoked_actors.matching import dispatch, expiration, generation
from yoked_actors.queues import Queue


class DispatchPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Reference instant (ISO, with offset); default now. For operators and tests.
    now: datetime | None = None


class GeneratePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str
    local_date: date

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone_strict(value)  # raises ValueError naming the zone
        return value


class ExpirePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Reference instant (ISO, with offset); default now. For operators and tests.
    now: datetime | None = None
    batch_size: int = Field(default=20_000, ge=1, le=100_000)
    time_budget_s: float = Field(default=240.0, gt=0, le=3_000)


# The dispatcher runs on `maintenance`, not `matching`: it is a short scheduled sweep, and a
# `matching` queue busy with long generations must not delay the 09:00 dispatch of other
# timezones behind them.
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
    return dispatch.dispatch_due(payload.now or utc_now())


@job(
    "matching.generate_daily",
    queue=Queue.MATCHING,
    payload=GeneratePayload,
    max_retries=3,
    min_backoff=10_000,
    time_limit=15 * 60_000,
)
def generate_daily(payload: GeneratePayload) -> dict[str, Any]:
    """Generate one timezone's daily offers for one local date. Idempotent per (timezone,
    local_date); a retry after a crash finishes the same offers (``matching.generation``)."""
    return generation.generate(payload.timezone, payload.local_date)


@job(
    "matching.expire_offers",
    queue=Queue.MATCHING,
    payload=ExpirePayload,
    max_retries=3,
    time_limit=5 * 60_000,
)
def expire_offers(payload: ExpirePayload) -> dict[str, Any]:
    """Expire due pending offers (hourly). Reruns are harmless: an expired offer is no longer
    pending. Rows locked by someone else are skipped this time and expired on the next run."""
    return expiration.expire_due(
        payload.now or utc_now(),
        batch_size=payload.batch_size,
        time_budget_s=payload.time_budget_s,
    )
