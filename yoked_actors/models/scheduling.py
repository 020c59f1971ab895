"""The scheduler's table: the fire ledger (docs/scheduling.md).

``schedule_fires``: one row per (schedule, due instant), inserted before the message is
enqueued; its primary key is what makes any number of schedulers fire each due time once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from yoked_actors.db import Base

FIRE_STATUSES = ("claimed", "enqueued", "missed", "paused")


class ScheduleFire(Base):
    """A fire of a schedule: claimed and enqueued together, or recorded as missed (why in
    ``detail``). ``lateness_ms``: from the due instant to the enqueue (or to the skip)."""

    __tablename__ = "schedule_fires"
    __table_args__ = (
        CheckConstraint("status IN ('claimed', 'enqueued', 'missed', 'paused')", name="status"),
        Index("ix_schedule_fires_due_at", "due_at"),
        Index("ix_schedule_fires_status_due_at", "status", "due_at"),
    )

    schedule: Mapped[str] = mapped_column(Text, primary_key=True)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    actor: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_id: Mapped[str | None] = mapped_column(Text)
    scheduler_id: Mapped[str | None] = mapped_column(Text)
    lateness_ms: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(Text)


class SchedulePause(Base):
    """A paused schedule: while its row exists the scheduler records its fires as ``paused``
    instead of enqueueing them (set and cleared from the operator console)."""

    __tablename__ = "schedule_pauses"

    schedule: Mapped[str] = mapped_column(Text, primary_key=True)
    paused_by: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    paused_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
