"""The daily-matching jobs: ``matching.dispatch_daily``, ``matching.generate_daily`` and
``matching.expire_offers`` (docs/matching.md).

Each job validates its payload and hands it to its job-side module in ``yoked_actors.matching``,
which opens the transactions, calls the pure run and the store, and returns the summary:

- ``dispatch_daily`` (every 15 minutes): ``matching.dispatch`` claims each (timezone, local
  date) once at 09:00 local and enqueues its ``generate_daily``.
- ``generate_daily``: ``matching.generation`` gives every eligible user of one timezone up to
  three partners for one local date; idempotent and resumable per (timezone, local date). A
  timezone too big for ``MATCHING_MEMORY_MB`` is split into shards (``matching.sharding``),
  each its own ``generate_shard`` message, which any workers run in parallel.
- ``expire_offers`` (hourly): ``matching.expiration`` marks pending offers past ``expires_at``
  as expired, in batches, within a time budget.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from yoked_actors.clock import utc_now, zone_strict
from yoked_actors.jobs import job
from yoked_actors.matching import dispatch, expiration, generation, sharding
from yoked_actors.matching.memory import ONE_RUN_AT_A_TIME
from yoked_actors.queues import Queue
from yoked_actors.settings import get_settings


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


class ShardPayload(GeneratePayload):
    #: The band of the run's timezone (0 .. shards - 1).
    shard: int = Field(ge=0, le=1_000)


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
    local_date); a retry after a crash finishes the same offers (``matching.generation``).
    A timezone too big for one worker's memory budget is sent as shards instead."""
    plan = sharding.planner(
        payload.timezone, payload.local_date, get_settings().matching_memory_mb, send_shard
    )
    with ONE_RUN_AT_A_TIME:
        return generation.generate(payload.timezone, payload.local_date, plan=plan)


def send_shard(timezone: str, local_date: date, shard: int) -> object:
    """Enqueue one shard of a sharded run (confirmed by RabbitMQ)."""
    day = local_date.isoformat()
    return generate_shard.send(
        {"timezone": timezone, "local_date": day, "shard": shard},
        idempotency_key=f"daily-matches:{timezone}:{day}:shard:{shard}",
    )


@job(
    "matching.generate_shard",
    queue=Queue.MATCHING,
    payload=ShardPayload,
    max_retries=3,
    min_backoff=10_000,
    time_limit=15 * 60_000,
)
def generate_shard(payload: ShardPayload) -> dict[str, Any]:
    """Write one band's offers of a sharded run; the last band to complete finishes the day
    (``matching.sharding``). Idempotent per (timezone, local_date, shard)."""
    with ONE_RUN_AT_A_TIME:
        return sharding.generate_shard(payload.timezone, payload.local_date, payload.shard)


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
