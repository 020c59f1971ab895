"""`maintenance.prune_runs`: keep the run history, idempotency marks and sent outbox rows for a
retention period, then delete them in bounded batches.

Scheduled daily (schedules.py). Idempotent: a rerun deletes what is older than the cut-off and
nothing else. Deletes in batches of ``batch_size`` rows, each its own short transaction, so it
never holds long locks on tables the workers write to constantly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, delete, or_, select

from yoked_actors.db import Base, session_scope
from yoked_actors.jobs import job
from yoked_actors.models.runs import IdempotencyKey, JobRun, OutboxMessage
from yoked_actors.queues import Queue

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
    model: type[Base], key: Any, older: ColumnElement[bool], batch_size: int
) -> int:
    total = 0
    while True:
        with session_scope() as session:
            ids = select(key).where(older).limit(batch_size).scalar_subquery()
            result = session.execute(delete(model).where(key.in_(ids)))
            deleted = int(getattr(result, "rowcount", 0))
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
    now = payload.now or datetime.now(UTC)
    cutoff = now - timedelta(days=payload.retention_days)
    return {
        "runs": _delete_in_batches(
            JobRun, JobRun.message_id, JobRun.updated_at < cutoff, payload.batch_size
        ),
        "idempotency_keys": _delete_in_batches(
            IdempotencyKey,
            IdempotencyKey.key,
            IdempotencyKey.created_at < cutoff,
            payload.batch_size,
        ),
        "outbox": _delete_in_batches(
            OutboxMessage,
            OutboxMessage.id,
            (OutboxMessage.created_at < cutoff)
            & or_(OutboxMessage.sent_at.is_not(None), OutboxMessage.failed_at.is_not(None)),
            payload.batch_size,
        ),
    }
