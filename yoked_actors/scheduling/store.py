"""The fire ledger (``schedule_fires``): every statement that writes or reads it.

A fire is claimed with ``INSERT ... ON CONFLICT DO NOTHING`` on its primary key
(schedule, due_at): of any number of schedulers, exactly one gets the row. A fire never enqueued
is recorded as ``missed`` the same way, so a fire enqueued by another scheduler is never
overwritten by a missed record. Functions take a session and never begin, commit or roll back:
the caller owns the transaction (the scheduler claims a fire and sends its message inside one).
See docs/scheduling.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from yoked_actors.models.scheduling import ScheduleFire, SchedulePause

#: lateness_ms is an int4 column: clamp (about 24.8 days) rather than fail a write.
_MAX_MS = 2**31 - 1


def milliseconds(delta: timedelta) -> int:
    """``delta`` in whole milliseconds, clamped to the column's range."""
    return max(-_MAX_MS, min(_MAX_MS, int(delta.total_seconds() * 1000)))


def last_due_at(session: Session, schedule: str) -> datetime | None:
    """The latest due instant recorded for ``schedule`` (claimed, enqueued or missed)."""
    return session.scalar(
        select(func.max(ScheduleFire.due_at)).where(ScheduleFire.schedule == schedule)
    )


def claim(
    session: Session,
    *,
    schedule: str,
    due_at: datetime,
    actor: str,
    scheduler_id: str,
    now: datetime,
) -> bool:
    """Insert the fire as ``claimed`` in ``session``'s transaction. False: someone has it.

    A concurrent claim of the same fire waits for this transaction: if it commits, the other
    gets False; if it rolls back (the enqueue failed), the other may claim it.
    """
    row = session.execute(
        insert(ScheduleFire)
        .values(
            schedule=schedule,
            due_at=due_at,
            actor=actor,
            status="claimed",
            claimed_at=now,
            scheduler_id=scheduler_id,
        )
        .on_conflict_do_nothing(index_elements=["schedule", "due_at"])
        .returning(ScheduleFire.schedule)
    ).first()
    return row is not None


def mark_enqueued(
    session: Session, *, schedule: str, due_at: datetime, message_id: str, enqueued_at: datetime
) -> None:
    """Record the message of a claimed fire and how late it was enqueued."""
    session.execute(
        update(ScheduleFire)
        .where(ScheduleFire.schedule == schedule, ScheduleFire.due_at == due_at)
        .values(
            status="enqueued",
            enqueued_at=enqueued_at,
            message_id=message_id,
            lateness_ms=milliseconds(enqueued_at - due_at),
        )
    )


def record_missed(
    session: Session,
    *,
    schedule: str,
    actor: str,
    due_ats: Iterable[datetime],
    detail: str,
    scheduler_id: str,
    now: datetime,
) -> int:
    """Record fires that were never enqueued as ``missed`` (unless already recorded).

    Returns how many rows were new.
    """
    rows = [
        dict(
            schedule=schedule,
            due_at=due_at,
            actor=actor,
            status="missed",
            claimed_at=now,
            scheduler_id=scheduler_id,
            detail=detail,
            lateness_ms=milliseconds(now - due_at),
        )
        for due_at in due_ats
    ]
    if not rows:
        return 0
    result = session.execute(
        insert(ScheduleFire)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["schedule", "due_at"])
        .returning(ScheduleFire.due_at)
    )
    return len(result.all())


def mark_late(
    session: Session,
    *,
    schedule: str,
    due_at: datetime,
    actor: str,
    lateness_ms: int,
    detail: str,
    now: datetime,
) -> None:
    """A worker found a fire too late to run: record it as missed.

    An upsert, because the worker can receive the message before the scheduler's claim commits
    (the send happens inside that transaction): the INSERT then waits for that commit and
    updates the row, where a plain UPDATE would not see it and change nothing.
    """
    lateness = min(lateness_ms, _MAX_MS)
    statement = insert(ScheduleFire).values(
        schedule=schedule,
        due_at=due_at,
        actor=actor,
        status="missed",
        claimed_at=now,
        lateness_ms=lateness,
        detail=detail,
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["schedule", "due_at"],
            set_={"status": "missed", "lateness_ms": lateness, "detail": detail},
        )
    )


@dataclass(frozen=True)
class FireRow:
    """One ledger row, as `yoked schedules fires` shows it."""

    schedule: str
    due_at: datetime
    actor: str
    status: str
    claimed_at: datetime
    enqueued_at: datetime | None
    message_id: str | None
    scheduler_id: str | None
    lateness_ms: int | None
    detail: str | None


def list_fires(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    schedule: str | None = None,
    status: str | None = None,
    limit: int = 200,
) -> list[FireRow]:
    """Ledger rows, latest due first."""
    query = select(ScheduleFire).order_by(ScheduleFire.due_at.desc(), ScheduleFire.schedule)
    if since is not None:
        query = query.where(ScheduleFire.due_at >= since)
    if until is not None:
        query = query.where(ScheduleFire.due_at < until)
    if schedule is not None:
        query = query.where(ScheduleFire.schedule == schedule)
    if status is not None:
        query = query.where(ScheduleFire.status == status)
    return [
        FireRow(
            schedule=row.schedule,
            due_at=row.due_at,
            actor=row.actor,
            status=row.status,
            claimed_at=row.claimed_at,
            enqueued_at=row.enqueued_at,
            message_id=row.message_id,
            scheduler_id=row.scheduler_id,
            lateness_ms=row.lateness_ms,
            detail=row.detail,
        )
        for row in session.scalars(query.limit(limit))
    ]


def is_paused(session: Session, schedule: str) -> bool:
    """Whether an operator paused ``schedule`` (from the console)."""
    return session.get(SchedulePause, schedule) is not None


def record_paused(
    session: Session, schedule: Any, due_at: datetime, scheduler_id: str, now: datetime
) -> None:
    """Record a fire of ``schedule`` (a :class:`~yoked_actors.schedules.Schedule`) skipped
    because it is paused (unless that fire is already recorded)."""
    session.execute(
        insert(ScheduleFire)
        .values(
            schedule=schedule.name,
            due_at=due_at,
            actor=schedule.actor_name,
            status="paused",
            claimed_at=now,
            scheduler_id=scheduler_id,
            detail="schedule paused",
            lateness_ms=milliseconds(now - due_at),
        )
        .on_conflict_do_nothing(index_elements=["schedule", "due_at"])
    )
