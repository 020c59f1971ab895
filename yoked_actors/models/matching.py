"""Daily matching's own tables (docs/matching.md).

``matching_runs``: one row per (timezone, local date) generated. It is created when a run
starts, fixes the run's reference instant ``as_of`` (a resumed run reuses it, so it decides on
the same clock), counts the offer chunks written, and holds the run summary once ``completed``.
A completed row is what makes a second run of the same day write nothing at once.

``daily_dispatches``: one row per (timezone, local date) whose daily matches were dispatched;
its primary key is what makes the dispatcher start each day once.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKeyConstraint,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from yoked_actors.db import Base

RUN_STATUSES = ("running", "completed")


class MatchingRun(Base):
    """The generation of one timezone's offers for one local date."""

    __tablename__ = "matching_runs"
    __table_args__ = (CheckConstraint("status IN ('running', 'completed')", name="status"),)

    timezone: Mapped[str] = mapped_column(Text, primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(Text, server_default="running")
    #: The run's clock: eligibility (active in the last 14 days), the recent-batch rule and the
    #: offers' created_at / expires_at are all computed from it, on every attempt.
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default="1")
    chunks_done: Mapped[int] = mapped_column(Integer, server_default="0")
    eligible_users: Mapped[int | None] = mapped_column(Integer)
    users_with_offers: Mapped[int | None] = mapped_column(Integer)
    offers_selected: Mapped[int | None] = mapped_column(Integer)
    #: Rows inserted, summed over attempts (a resumed run adds only what was missing).
    offers_written: Mapped[int] = mapped_column(Integer, server_default="0")
    mean_score: Mapped[float | None] = mapped_column(Double)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    #: The generating process's peak resident set size (MiB) when the offers were written.
    peak_rss_mb: Mapped[int | None] = mapped_column(Integer)
    #: Longitudes splitting a sharded run into bands (fixed by the first attempt); None: the
    #: run is not sharded.
    shard_cuts: Mapped[list[float] | None] = mapped_column(ARRAY(Double))


class MatchingShard(Base):
    """One longitude band of a sharded run: its offers are written once it is completed."""

    __tablename__ = "matching_shards"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'completed')", name="status"),
        ForeignKeyConstraint(
            ["timezone", "local_date"],
            ["matching_runs.timezone", "matching_runs.local_date"],
            ondelete="CASCADE",
        ),
    )

    timezone: Mapped[str] = mapped_column(Text, primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(Text, server_default="running")
    attempts: Mapped[int] = mapped_column(Integer, server_default="1")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    eligible_users: Mapped[int | None] = mapped_column(Integer)
    offers_selected: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    peak_rss_mb: Mapped[int | None] = mapped_column(Integer)


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
