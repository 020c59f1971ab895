"""Reading the run history, and replaying failed runs: what ``yoked runs`` does.

Replay re-enqueues a failed or dead run's original actor and payload as a new message (retry
count reset; the new run's ``replay_of`` names the original). It validates the payload against
the job's current schema first, so a replay can never enqueue what a send would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yoked_actors.errors import PermanentError
from yoked_actors.models.runs import JobRun

REPLAYABLE_STATUSES = ("failed", "dead")
LIST_COLUMNS = (
    "message_id",
    "actor",
    "queue",
    "status",
    "attempts",
    "enqueued_at",
    "started_at",
    "finished_at",
    "duration_ms",
    "error_type",
    "error_message",
)


def run_as_dict(run: JobRun, *, full: bool = False) -> dict[str, Any]:
    """A run as plain values; ``full`` adds keys, replay links and whether it can be replayed
    (never the payload itself: it may hold personal data)."""
    row = {name: getattr(run, name) for name in LIST_COLUMNS}
    if full:
        row.update(
            idempotency_key=run.idempotency_key,
            schedule_fire=run.schedule_fire,
            replay_of=run.replay_of,
            updated_at=run.updated_at,
            replayable=run.status in REPLAYABLE_STATUSES and run.payload is not None,
        )
    return row


def list_runs(
    session: Session,
    *,
    actor: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[JobRun]:
    """Runs matching the filters, most recently updated first."""
    query = select(JobRun).order_by(JobRun.updated_at.desc()).limit(limit)
    if actor:
        query = query.where(JobRun.actor == actor)
    if status:
        query = query.where(JobRun.status == status)
    if since:
        query = query.where(JobRun.updated_at >= since)
    return list(session.scalars(query))


def get_run(session: Session, message_id: str) -> JobRun | None:
    """The run of ``message_id``, or the one run whose id starts with it (ids are long)."""
    run = session.get(JobRun, message_id)
    if run is not None:
        return run
    matches = session.scalars(
        select(JobRun).where(JobRun.message_id.startswith(message_id, autoescape=True)).limit(2)
    ).all()
    return matches[0] if len(matches) == 1 else None


@dataclass
class Replayed:
    """The outcome of replaying one run: the new message id, or why it was not replayed."""

    original: str
    new_message_id: str | None = None
    error: str | None = None


def replay_run(run: JobRun) -> Replayed:
    """Enqueue ``run``'s actor and payload again as a new message with retries reset.

    Never raises for one bad run: the reason is in the result (not replayable, payload not
    kept, unknown actor, payload no longer valid).
    """
    from yoked_actors.jobs import get_job

    if run.status not in REPLAYABLE_STATUSES:
        return Replayed(run.message_id, error=f"status is {run.status}, not failed or dead")
    if run.payload is None or "kwargs" not in run.payload:
        return Replayed(run.message_id, error="its payload was not kept (too big or malformed)")
    if run.payload.get("args"):
        return Replayed(run.message_id, error="it had positional arguments, which no job accepts")
    try:
        job = get_job(run.actor)
        options: dict[str, Any] = {"replay_of": run.message_id}
        message = job.send(run.payload["kwargs"], idempotency_key=run.idempotency_key, **options)
    except PermanentError as error:
        return Replayed(run.message_id, error=str(error))
    return Replayed(run.message_id, new_message_id=message.message_id)


def replayable_runs(
    session: Session,
    *,
    status: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[JobRun]:
    """Failed / dead runs matching the filters, oldest first (the bulk form of replay)."""
    statuses = (status,) if status else REPLAYABLE_STATUSES
    query = (
        select(JobRun).where(JobRun.status.in_(statuses)).order_by(JobRun.updated_at).limit(limit)
    )
    if actor:
        query = query.where(JobRun.actor == actor)
    if since:
        query = query.where(JobRun.updated_at >= since)
    return list(session.scalars(query))


def run_stats(
    session: Session, *, since: datetime, actor: str | None = None
) -> list[dict[str, Any]]:
    """Per actor since ``since``: runs by status, success and failure rates (over finished
    runs), p50 / p95 duration of succeeded runs in ms."""
    finished = JobRun.status.in_(("succeeded", "failed", "dead"))
    succeeded = JobRun.status == "succeeded"
    query = (
        select(
            JobRun.actor,
            func.count().label("runs"),
            func.count().filter(succeeded).label("succeeded"),
            func.count().filter(JobRun.status == "failed").label("failed"),
            func.count().filter(JobRun.status == "dead").label("dead"),
            func.count().filter(JobRun.status == "skipped").label("skipped"),
            func.count()
            .filter(JobRun.status.in_(("queued", "running", "retrying")))
            .label("in_progress"),
            func.count().filter(finished).label("finished"),
            func.percentile_cont(0.5)
            .within_group(JobRun.duration_ms)
            .filter(succeeded)
            .label("p50_ms"),
            func.percentile_cont(0.95)
            .within_group(JobRun.duration_ms)
            .filter(succeeded)
            .label("p95_ms"),
        )
        .where(JobRun.updated_at >= since)
        .group_by(JobRun.actor)
        .order_by(JobRun.actor)
    )
    if actor:
        query = query.where(JobRun.actor == actor)
    stats = []
    for row in session.execute(query):
        done = row.finished or 0
        stats.append(
            {
                "actor": row.actor,
                "runs": row.runs,
                "succeeded": row.succeeded,
                "failed": row.failed,
                "dead": row.dead,
                "skipped": row.skipped,
                "in_progress": row.in_progress,
                "success_rate": round(row.succeeded / done, 4) if done else None,
                "failure_rate": round((row.failed + row.dead) / done, 4) if done else None,
                "p50_ms": None if row.p50_ms is None else round(row.p50_ms, 1),
                "p95_ms": None if row.p95_ms is None else round(row.p95_ms, 1),
            }
        )
    return stats
