"""`maintenance.reconcile` re-derives lost work from PostgreSQL (see yoked_actors.reconcile).

`maintenance.prune_runs`: keep the run history, idempotency marks and sent outbox rows for a
retention period, then delete them in bounded batches.

Scheduled daily (schedules.py). Idempotent: a rerun deletes what is older than the cut-off and
nothing else. Deletes in batches of ``batch_size`` rows, each its own short transaction, so it
never holds long locks on tables the workers write to constantly. Pending outbox rows are never
deleted. The statements are in :mod:`yoked_actors.runs.store`; see docs/reliability.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from yoked_actors.clock import utc_now
from yoked_actors.db import session_scope
from yoked_actors.jobs import job
from yoked_actors.queues import Queue
from yoked_actors.runs import store

#: Long enough to investigate and replay a failure found after a holiday; an idempotency mark
#: must outlive any redelivery of its message (minutes to hours), which this covers widely.
DEFAULT_RETENTION_DAYS = 30


class PrunePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=1, le=3650)
    batch_size: int = Field(default=5_000, ge=100, le=100_000)
    #: Reference time (ISO); default now. Lets a test or an operator prune "as of" a time.
    now: datetime | None = None


def _delete_in_batches(
    delete_batch: Callable[[Session, datetime, int], int], cutoff: datetime, batch_size: int
) -> int:
    """Call ``delete_batch`` in its own transaction until it deletes less than a batch."""
    total = 0
    while True:
        with session_scope() as session:
            deleted = delete_batch(session, cutoff, batch_size)
        total += deleted
        if deleted < batch_size:
            return total


@job(
    "maintenance.prune_runs",
    queue=Queue.MAINTENANCE,
    payload=PrunePayload,
    max_retries=3,
    time_limit=15 * 60_000,
)
def prune_runs(payload: PrunePayload) -> dict[str, int]:
    """Delete runs, idempotency marks and sent or failed outbox rows older than the retention.

    Pending outbox rows are never deleted, whatever their age.
    """
    cutoff = (payload.now or utc_now()) - timedelta(days=payload.retention_days)
    size = payload.batch_size
    return {
        "runs": _delete_in_batches(store.delete_runs_before, cutoff, size),
        "idempotency_keys": _delete_in_batches(store.delete_keys_before, cutoff, size),
        "outbox": _delete_in_batches(store.delete_outbox_before, cutoff, size),
    }


class ReconcilePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: A message still pending this long is re-emitted; default RECONCILE_PENDING_AFTER_S.
    pending_after_s: int | None = Field(default=None, ge=0, le=7 * 86_400)
    #: Reference time (ISO); default now.
    now: datetime | None = None


@job(
    "maintenance.reconcile",
    queue=Queue.MAINTENANCE,
    payload=ReconcilePayload,
    max_retries=3,
    time_limit=10 * 60_000,
)
def reconcile(payload: ReconcilePayload) -> dict[str, object]:
    """Re-derive lost work from PostgreSQL (:mod:`yoked_actors.reconcile`); returns what it
    found and fixed. A healthy system finds nothing; a rerun fixes nothing twice."""
    from yoked_actors.reconcile import reconcile as run_reconcile
    from yoked_actors.settings import get_settings

    after = payload.pending_after_s
    if after is None:
        after = get_settings().reconcile_pending_after_s
    found = run_reconcile(payload.now or utc_now(), pending_after=timedelta(seconds=after))
    return found.as_dict()
