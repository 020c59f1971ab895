"""The scheduler's tables: the fire ledger and the daily-dispatch claims (issue 4).

``schedule_fires``: one row per (schedule, due instant), inserted before the message is
enqueued; its primary key is what makes any number of schedulers fire each due time once.
``daily_dispatches``: one row per (timezone, local date) whose daily matches were dispatched.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, Index, Integer, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from yoked_actors.db import Base

FIRE_STATUSES = ("claimed", "enqueued", "missed")


class ScheduleFire(Base):
    """A fire of a schedule: claimed and enqueued together, or recorded as missed (why in
    ``detail``). ``lateness_ms``: from the due instant to the enqueue (or to the skip)."""

    __tablename__ = "schedule_fires"
    __table_args__ = (
        CheckConstraint("status IN ('claimed', 'enqueued', 'missed')", name="status"),
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


class DailyDispatch(Base):
    """The daily matches of ``timezone`` for ``local_date`` were handed to generation once."""

    __tablename__ = "daily_dispatches"

    timezone: Mapped[str] = mapped_column(Text, primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    dispatched_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    message_id: Mapped[str | None] = mapped_column(Text)
    users: Mapped[int] = mapped_column(Integer, server_default="0")
