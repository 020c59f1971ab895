"""Every SQL statement of the operator console (and of the CLI commands that share its reads).

Functions take a :class:`~sqlalchemy.orm.Session` and never begin, commit or roll back: the
console opens the transaction (pages: :func:`read_only`, actions: ``db.session_scope()``). All
values travel as bound parameters, never spliced into the text, so no filter can change a
statement. The run history's own writes stay in :mod:`yoked_actors.runs.store`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from yoked_actors.models.console import ConsoleAudit, ConsoleSession, ConsoleUser
from yoked_actors.models.runs import IdempotencyKey, JobRun, OutboxMessage
from yoked_actors.models.scheduling import ScheduleFire, SchedulePause
from yoked_actors.models.system import Ping


def read_only(session: Session, *, timeout_ms: int) -> None:
    """Make the session's transaction read-only, with a statement timeout (pages only)."""
    session.execute(text("SET TRANSACTION READ ONLY"))
    session.execute(
        text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(timeout_ms)}
    )


# -- users, sessions, audit ----------------------------------------------------------------


def upsert_user(session: Session, *, name: str, role: str, password_hash: str) -> None:
    session.execute(
        insert(ConsoleUser)
        .values(name=name, role=role, password_hash=password_hash)
        .on_conflict_do_update(
            index_elements=["name"], set_={"role": role, "password_hash": password_hash}
        )
    )


def get_user(session: Session, name: str) -> ConsoleUser | None:
    return session.get(ConsoleUser, name)


def create_session(
    session: Session, *, token_hash: str, user_name: str, csrf_token: str, expires_at: datetime
) -> None:
    session.add(
        ConsoleSession(
            token_hash=token_hash, user_name=user_name, csrf_token=csrf_token, expires_at=expires_at
        )
    )


def session_user(session: Session, token_hash: str) -> tuple[ConsoleUser, str] | None:
    """The user and CSRF token of a live session, or None."""
    row = session.execute(
        select(ConsoleUser, ConsoleSession.csrf_token)
        .join(ConsoleSession, ConsoleSession.user_name == ConsoleUser.name)
        .where(ConsoleSession.token_hash == token_hash, ConsoleSession.expires_at > func.now())
    ).first()
    return None if row is None else (row[0], row[1])


def end_session(session: Session, token_hash: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash))
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < func.now()))


def audit(
    session: Session,
    *,
    user: str,
    action: str,
    target: str,
    reason: str,
    outcome: str,
    detail: str | None = None,
) -> None:
    session.add(
        ConsoleAudit(
            user_name=user,
            action=action,
            target=target,
            reason=reason,
            outcome=outcome,
            detail=detail,
        )
    )


def recent_audit(session: Session, limit: int = 50) -> list[ConsoleAudit]:
    return list(session.scalars(select(ConsoleAudit).order_by(ConsoleAudit.id.desc()).limit(limit)))


# -- runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFilter:
    """The runs page's filters (parsed and checked by ``console.filters``)."""

    status: str | None = None
    actor: str | None = None
    queue: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    error_type: str | None = None
    error: str | None = None
    idempotency_key: str | None = None
    schedule_fire: str | None = None
    replay_of: str | None = None


def _filtered(query: Any, f: RunFilter) -> Any:
    equal = {
        "status": f.status,
        "actor": f.actor,
        "queue": f.queue,
        "error_type": f.error_type,
        "idempotency_key": f.idempotency_key,
        "schedule_fire": f.schedule_fire,
        "replay_of": f.replay_of,
    }
    for column, value in equal.items():
        if value is not None:
            query = query.where(getattr(JobRun, column) == value)
    if f.since is not None:
        query = query.where(JobRun.updated_at >= f.since)
    if f.until is not None:
        query = query.where(JobRun.updated_at < f.until)
    if f.error is not None:
        query = query.where(JobRun.error_message.icontains(f.error, autoescape=True))
    return query


def page_runs(
    session: Session, f: RunFilter, *, after: tuple[datetime, str] | None, limit: int
) -> list[JobRun]:
    """Runs matching ``f``, newest first, after the keyset ``after`` (updated_at, message_id)."""
    query = _filtered(select(JobRun), f)
    if after is not None:
        query = query.where(tuple_(JobRun.updated_at, JobRun.message_id) < tuple_(*after))
    query = query.order_by(JobRun.updated_at.desc(), JobRun.message_id.desc()).limit(limit)
    return list(session.scalars(query))


def filtered_runs(session: Session, f: RunFilter, *, limit: int) -> list[JobRun]:
    """Runs matching ``f`` oldest first (the bulk replay's selection)."""
    query = _filtered(select(JobRun), f).order_by(JobRun.updated_at, JobRun.message_id)
    return list(session.scalars(query.limit(limit)))


def succeeded_keys(session: Session, keys: list[str]) -> set[str]:
    """Which of ``keys`` already have a succeeded job (their replay would change nothing)."""
    if not keys:
        return set()
    return set(session.scalars(select(IdempotencyKey.key).where(IdempotencyKey.key.in_(keys))))


def replays_of(session: Session, message_id: str) -> list[JobRun]:
    query = select(JobRun).where(JobRun.replay_of == message_id).order_by(JobRun.updated_at)
    return list(session.scalars(query))


def get_run_exact(session: Session, message_id: str) -> JobRun | None:
    return session.get(JobRun, message_id)


def fire_of(session: Session, schedule_fire: str) -> ScheduleFire | None:
    schedule, _, due = schedule_fire.rpartition("@")
    try:
        due_at = datetime.fromisoformat(due)
    except ValueError:
        return None
    return session.get(ScheduleFire, (schedule, due_at))


# -- overview ------------------------------------------------------------------------------


def actor_health(session: Session, *, since: datetime) -> list[dict[str, Any]]:
    """Per actor since ``since``: runs, failure rate over finished runs, p95 duration (ms)."""
    finished = JobRun.status.in_(("succeeded", "failed", "dead"))
    failed = JobRun.status.in_(("failed", "dead"))
    rows = session.execute(
        select(
            JobRun.actor,
            func.count().label("runs"),
            func.count().filter(finished).label("finished"),
            func.count().filter(failed).label("failed"),
            func.percentile_cont(0.95).within_group(JobRun.duration_ms).label("p95_ms"),
        )
        .where(JobRun.updated_at >= since)
        .group_by(JobRun.actor)
        .order_by(JobRun.actor)
    )
    return [
        {
            "actor": r.actor,
            "runs": r.runs,
            "failed": r.failed,
            "failure_rate": round(r.failed / r.finished, 4) if r.finished else None,
            "p95_ms": None if r.p95_ms is None else round(r.p95_ms, 1),
        }
        for r in rows
    ]


def stuck_runs(session: Session, *, older_than: datetime, limit: int = 20) -> list[JobRun]:
    """Runs still running or queued whose last update is older than ``older_than``."""
    query = (
        select(JobRun)
        .where(JobRun.status.in_(("running", "queued", "retrying")))
        .where(JobRun.updated_at < older_than)
        .order_by(JobRun.updated_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def last_ping(session: Session) -> Ping | None:
    return session.scalars(select(Ping).order_by(Ping.received_at.desc()).limit(1)).first()


# -- schedules -----------------------------------------------------------------------------


def fires_since(session: Session, since: datetime) -> list[ScheduleFire]:
    query = select(ScheduleFire).where(ScheduleFire.due_at >= since).order_by(ScheduleFire.due_at)
    return list(session.scalars(query))


def last_fires(session: Session) -> dict[str, ScheduleFire]:
    """Each schedule's latest ledger row."""
    latest = (
        select(ScheduleFire.schedule, func.max(ScheduleFire.due_at).label("due_at"))
        .group_by(ScheduleFire.schedule)
        .subquery()
    )
    rows = session.scalars(
        select(ScheduleFire).join(
            latest,
            (ScheduleFire.schedule == latest.c.schedule) & (ScheduleFire.due_at == latest.c.due_at),
        )
    )
    return {row.schedule: row for row in rows}


def pauses(session: Session) -> dict[str, SchedulePause]:
    return {p.schedule: p for p in session.scalars(select(SchedulePause))}


def pause(session: Session, *, schedule: str, user: str, reason: str) -> bool:
    """Pause ``schedule``; False if it already was."""
    row = session.execute(
        insert(SchedulePause)
        .values(schedule=schedule, paused_by=user, reason=reason)
        .on_conflict_do_nothing()
        .returning(SchedulePause.schedule)
    ).first()
    return row is not None


def resume(session: Session, schedule: str) -> bool:
    """Resume ``schedule``; False if it was not paused."""
    result = session.execute(
        delete(SchedulePause)
        .where(SchedulePause.schedule == schedule)
        .returning(SchedulePause.schedule)
    )
    return result.first() is not None


def record_manual_fire(
    session: Session, *, schedule: str, actor: str, due_at: datetime, message_id: str, detail: str
) -> None:
    session.add(
        ScheduleFire(
            schedule=schedule,
            due_at=due_at,
            actor=actor,
            status="enqueued",
            claimed_at=due_at,
            enqueued_at=due_at,
            message_id=message_id,
            scheduler_id="console",
            lateness_ms=0,
            detail=detail,
        )
    )


# -- outbox --------------------------------------------------------------------------------


def failed_outbox(session: Session, limit: int = 100) -> list[OutboxMessage]:
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.failed_at.is_not(None), OutboxMessage.sent_at.is_(None))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return list(session.scalars(query))


OUTBOX_STATES = ("pending", "sent", "failed")


def list_outbox(
    session: Session,
    *,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> list[OutboxMessage]:
    """Outbox rows (``state`` one of :data:`OUTBOX_STATES`), newest first, by creation time."""
    conditions = {
        "pending": OutboxMessage.sent_at.is_(None) & OutboxMessage.failed_at.is_(None),
        "sent": OutboxMessage.sent_at.is_not(None),
        "failed": OutboxMessage.failed_at.is_not(None) & OutboxMessage.sent_at.is_(None),
    }
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if state:
        query = query.where(conditions[state])
    if since:
        query = query.where(OutboxMessage.created_at >= since)
    if until:
        query = query.where(OutboxMessage.created_at < until)
    return list(session.scalars(query))


def retry_outbox(session: Session, ids: list[int] | None) -> int:
    """Make failed rows (all, or those of ``ids``) pending again; returns how many."""
    query = (
        update(OutboxMessage)
        .where(OutboxMessage.failed_at.is_not(None), OutboxMessage.sent_at.is_(None))
        .values(failed_at=None, available_at=func.now(), attempts=0)
    )
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(ids))
    return len(session.execute(query.returning(OutboxMessage.id)).all())


def oldest_queued(session: Session) -> dict[str, datetime]:
    """Per queue, when its oldest run still ``queued`` was enqueued."""
    rows = session.execute(
        select(JobRun.queue, func.min(JobRun.enqueued_at))
        .where(JobRun.status == "queued")
        .group_by(JobRun.queue)
    )
    return {queue: at for queue, at in rows if at is not None}
