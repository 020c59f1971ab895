"""`daily_metrics`: one row per (UTC day, metric, dimension), from `analytics.aggregate_daily`.

``dimension`` is ``''`` for the day's total and ``key=value`` for a breakdown
(``timezone=Europe/Paris``, ``kind=new_message``); it is never NULL, so the primary key makes
every upsert land on one row.
Counts have ``value`` only; rates also store ``numerator`` and ``denominator`` and have a NULL
``value`` when the denominator is zero. docs/analytics.md defines each metric.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Double, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from yoked_actors.db import Base


class DailyMetric(Base):
    __tablename__ = "daily_metrics"

    metric_date: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(Text, primary_key=True)
    dimension: Mapped[str] = mapped_column(Text, primary_key=True, server_default="")
    value: Mapped[float | None] = mapped_column(Double)
    numerator: Mapped[int | None] = mapped_column(BigInteger)
    denominator: Mapped[int | None] = mapped_column(BigInteger)
    #: When the stored value was last written; a rerun that finds the same figures leaves it.
    computed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
