"""Every SQL statement on the reliability tables: ``job_runs``, ``idempotency_keys``,
``outbox`` (and ``pings``, the end-to-end canary's table).

Functions take a :class:`~sqlalchemy.orm.Session` and never begin, commit or roll back: the
caller owns the transaction (``db.session_scope()``). Statements run through SQLAlchemy, so a
database error arrives as SQLAlchemy's exception (``IntegrityError``, ``OperationalError``...):
the run recorder, the retry policy and :func:`yoked_actors.errors.describe_error` read that
taxonomy. Functions that change an ``outbox`` row take the row, loaded with its lock by
:func:`claim_pending_outbox`; the change is written when the caller's transaction commits.
See docs/reliability.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import ColumnElement, delete, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from yoked_actors.db import Base
from yoked_actors.models.runs import IdempotencyKey, JobRun, OutboxMessage
from yoked_actors.models.system import Ping
from yoked_actors.runs.events import REPLAYABLE_STATUSES

# -- job_runs: the batched upsert -----------------------------------------------------------

_COLUMNS = {
    "message_id": "text",
    "actor": "text",
    "queue": "text",
    "status": "text",
    "status_rank": "smallint",
    "attempts": "int",
    "enqueued_at": "float8",  # epoch seconds: converted by the database, not per row in Python
    "started_at": "float8",
    "finished_at": "float8",
    "duration_ms": "int",
    "error_type": "text",
    "error_message": "text",
    "idempotency_key": "text",
    "schedule_fire": "text",
    "replay_of": "text",
    "payload": "jsonb",
}
_MERGED = [c for c in _COLUMNS if c not in ("message_id", "status", "status_rank", "attempts")]
_NEWER = "(EXCLUDED.attempts, EXCLUDED.status_rank) >= (r.attempts, r.status_rank)"


def _merge_clause(column: str) -> str:
    if column == "enqueued_at":
        return "enqueued_at = COALESCE(r.enqueued_at, EXCLUDED.enqueued_at)"
    return (
        f"{column} = CASE WHEN {_NEWER} THEN COALESCE(EXCLUDED.{column}, r.{column}) "
        f"ELSE COALESCE(r.{column}, EXCLUDED.{column}) END"
    )


def _select(column: str, kind: str) -> str:
    if kind == "float8":
        return f"to_timestamp({column})"
    if column in ("attempts", "status_rank"):
        return f"COALESCE({column}, 0)"
    return column


#: One statement for a whole batch: the rows travel as a single JSON array parameter. A row
#: only moves forwards: the newer (attempts, status_rank) keeps its status, and fields an
#: older event knew are filled in (as :func:`yoked_actors.runs.events.merge_events` does).
UPSERT_RUNS = text(
    f"""
    INSERT INTO job_runs AS r ({", ".join(_COLUMNS)}, updated_at)
    SELECT {", ".join(_select(c, kind) for c, kind in _COLUMNS.items())}, now()
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
        AS x({", ".join(f"{name} {kind}" for name, kind in _COLUMNS.items())})
    ON CONFLICT (message_id) DO UPDATE SET
        status = CASE WHEN {_NEWER} THEN EXCLUDED.status ELSE r.status END,
        status_rank = CASE WHEN {_NEWER} THEN EXCLUDED.status_rank ELSE r.status_rank END,
        attempts = GREATEST(r.attempts, EXCLUDED.attempts),
        {", ".join(_merge_clause(c) for c in _MERGED)},
        updated_at = now()
    """
)


def upsert_runs(session: Session, rows_json: str) -> None:
    """Write a batch of run events (a JSON array of ``job_runs`` columns) in one statement."""
    session.execute(UPSERT_RUNS, {"rows": rows_json})


# -- job_runs: history queries --------------------------------------------------------------


def list_runs(
    session: Session,
    *,
    actor: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
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
    if until:
        query = query.where(JobRun.updated_at < until)
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


def replayable_runs(
    session: Session,
    *,
    status: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
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
    if until:
        query = query.where(JobRun.updated_at < until)
    return list(session.scalars(query))


def run_stats(
    session: Session,
    *,
    since: datetime,
    until: datetime | None = None,
    actor: str | None = None,
    status: str | None = None,
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
    if status:
        query = query.where(JobRun.status == status)
    if until:
        query = query.where(JobRun.updated_at < until)
    return [_stats_row(row) for row in session.execute(query)]


def _stats_row(row: Any) -> dict[str, Any]:
    done = row.finished or 0
    return {
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


# -- idempotency_keys -----------------------------------------------------------------------


def claim_key(session: Session, key: str, *, actor: str | None, message_id: str | None) -> bool:
    """Insert ``key`` in the session's transaction. False: another run has it already.

    A concurrent claim of the same key waits for this transaction: if it commits, the other
    gets False; if it rolls back, the other may claim it.
    """
    claimed = session.execute(
        insert(IdempotencyKey)
        .values(key=key, actor=actor, message_id=message_id)
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.key)
    ).first()
    return claimed is not None


def key_claimed(session: Session, key: str) -> bool:
    """Whether ``key`` is already marked as done."""
    found = session.execute(select(IdempotencyKey.key).where(IdempotencyKey.key == key)).first()
    return found is not None


def mark_key(session: Session, key: str, *, actor: str, message_id: str) -> None:
    """Mark ``key`` as done unless it is already."""
    session.execute(
        insert(IdempotencyKey)
        .values(key=key, actor=actor, message_id=message_id)
        .on_conflict_do_nothing()
    )


# -- pruning --------------------------------------------------------------------------------


def _delete_batch(
    session: Session, model: type[Base], key: Any, older: ColumnElement[bool], limit: int
) -> int:
    ids = select(key).where(older).limit(limit).scalar_subquery()
    result = session.execute(delete(model).where(key.in_(ids)))
    return int(getattr(result, "rowcount", 0))


def delete_runs_before(session: Session, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` runs last updated before ``cutoff``; returns how many."""
    return _delete_batch(session, JobRun, JobRun.message_id, JobRun.updated_at < cutoff, limit)


def delete_keys_before(session: Session, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` idempotency marks made before ``cutoff``; returns how many."""
    return _delete_batch(
        session, IdempotencyKey, IdempotencyKey.key, IdempotencyKey.created_at < cutoff, limit
    )


def delete_outbox_before(session: Session, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` sent or failed outbox rows created before ``cutoff``.

    A pending row is never deleted, whatever its age.
    """
    done = or_(OutboxMessage.sent_at.is_not(None), OutboxMessage.failed_at.is_not(None))
    return _delete_batch(
        session, OutboxMessage, OutboxMessage.id, (OutboxMessage.created_at < cutoff) & done, limit
    )


# -- outbox ---------------------------------------------------------------------------------

#: Notified by a trigger on every insert into ``outbox`` (migration 0300).
OUTBOX_CHANNEL = "yoked_outbox"


def insert_outbox(
    session: Session, actor: str, data: Mapping[str, Any], idempotency_key: str | None
) -> int | None:
    """Add a row to publish; None if a row with this ``idempotency_key`` exists already."""
    return session.scalar(
        insert(OutboxMessage)
        .values(actor=actor, payload=data, idempotency_key=idempotency_key)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxMessage.id)
    )


def claim_pending_outbox(session: Session, limit: int) -> list[OutboxMessage]:
    """Up to ``limit`` pending rows, oldest first, locked until the transaction ends; rows
    another relay holds are skipped (``FOR UPDATE SKIP LOCKED``)."""
    rows = session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.failed_at.is_(None),
            OutboxMessage.available_at <= func.now(),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    return list(rows)


# Each outcome of a publication attempt counts the attempt.


def outbox_failed(row: OutboxMessage, reason: str) -> None:
    """The row can never be published (unknown actor, invalid payload): failed for good."""
    row.attempts += 1
    row.failed_at = func.now()
    row.last_error = reason


def outbox_send_failed(row: OutboxMessage, error: str) -> None:
    """The broker refused or was unreachable: the row stays pending, with the error."""
    row.attempts += 1
    row.last_error = error


def outbox_sent(row: OutboxMessage, message_id: str) -> None:
    """The row was published as ``message_id``."""
    row.attempts += 1
    row.sent_at = func.now()
    row.message_id = message_id
    row.last_error = None


def listen_outbox(connection: psycopg.Connection[Any]) -> None:
    """Subscribe an autocommit connection to the outbox's insert notifications."""
    connection.execute(f"LISTEN {OUTBOX_CHANNEL}")


def outbox_status(session: Session) -> dict[str, Any]:
    """Counts of pending / sent / failed rows and the age of the oldest pending one (s)."""
    pending = (OutboxMessage.sent_at.is_(None)) & (OutboxMessage.failed_at.is_(None))
    row = session.execute(
        select(
            func.count().filter(pending).label("pending"),
            func.count().filter(OutboxMessage.sent_at.is_not(None)).label("sent"),
            func.count().filter(OutboxMessage.failed_at.is_not(None)).label("failed"),
            func.extract(
                "epoch", func.now() - func.min(OutboxMessage.created_at).filter(pending)
            ).label("oldest_pending_s"),
        )
    ).one()
    return {
        "pending": row.pending,
        "sent": row.sent,
        "failed": row.failed,
        "oldest_pending_s": None if row.oldest_pending_s is None else float(row.oldest_pending_s),
    }


# -- pings ----------------------------------------------------------------------------------


def record_ping(session: Session, *, message_id: str, note: str, sent_at: datetime | None) -> int:
    """Record a canary message once (keyed by its message id); returns rows inserted (0/1)."""
    inserted = session.scalars(
        insert(Ping)
        .values(message_id=message_id, note=note, sent_at=sent_at)
        .on_conflict_do_nothing()
        .returning(Ping.message_id)
    ).all()
    return len(inserted)
