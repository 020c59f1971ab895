"""`notifications.send_batches` (every 5 minutes) and `notifications.poll_receipts`.

``send_batches`` turns what each user has pending into at most one push per run (digest, quiet
hours in the user's timezone, daily cap) and sends it through the provider the settings choose
(``PUSH_PROVIDER``: Expo, or a log-only provider in development). ``poll_receipts`` asks Expo
for receipts of tickets older than 15 minutes. Both are idempotent and safe to run concurrently
or twice: see :mod:`yoked_actors.notifications.batching`,
:mod:`yoked_actors.notifications.receipts` and docs/notifications.md.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from yoked_actors.clock import utc_now
from yoked_actors.jobs import NoPayload, job
from yoked_actors.notifications import batching, receipts
from yoked_actors.notifications.provider import push_provider
from yoked_actors.queues import Queue


class BatchPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Reference instant (ISO, with offset) for quiet hours, caps and ages; default now. For
    #: operators, tests and the `yoked dev --once` demonstration.
    now: datetime | None = None


@job(
    "notifications.send_batches",
    queue=Queue.NOTIFICATIONS,
    payload=BatchPayload,
    # The next scheduled run is 5 minutes away; a couple of quick retries cover a database blip.
    max_retries=2,
    min_backoff=5_000,
    max_backoff=30_000,
    # A run stops starting work after BatchOptions.run_seconds (240 s); HTTP calls are bounded by
    # EXPO_TIMEOUT_MS, SQL by statement_timeout.
    time_limit=300_000,
)
def send_batches(payload: BatchPayload) -> dict[str, int]:
    """Claim, collapse and push pending notifications. Never sends one notification twice;
    what the rate limit or an outage leaves over stays pending for the next run."""
    fixed = payload.now
    clock = utc_now if fixed is None else (lambda: fixed)
    return batching.send_batches(push_provider(), clock=clock)


@job(
    "notifications.poll_receipts",
    queue=Queue.NOTIFICATIONS,
    payload=NoPayload,
    max_retries=2,
    min_backoff=5_000,
    max_backoff=30_000,
    time_limit=300_000,
)
def poll_receipts(payload: NoPayload) -> dict[str, int]:
    """Record receipts of tickets older than 15 minutes; deactivate DeviceNotRegistered tokens."""
    return receipts.poll_receipts(push_provider())
