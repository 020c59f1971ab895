"""Reading the run history, and replaying failed runs: what ``yoked runs`` does besides queries.

:func:`run_as_dict` shows a run as plain values, never its payload (it may hold personal data).
:func:`replay_run` re-enqueues a failed or dead run's original actor and payload as a new
message (retry count reset; the new run's ``replay_of`` names the original). It validates the
payload against the job's current schema first, so a replay can never enqueue what a send would
refuse. The queries themselves are in :mod:`yoked_actors.runs.store`; see docs/reliability.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yoked_actors.errors import PermanentError
from yoked_actors.jobs import get_job
from yoked_actors.models.runs import JobRun
from yoked_actors.runs.events import REPLAYABLE_STATUSES

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
