"""Helpers for the scheduling tests: a settable clock, the ledger and queue contents."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import select

from yoked_actors import db
from yoked_actors.models.scheduling import ScheduleFire


class FakeClock:
    """A clock the test moves; safe to read from several threads."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, value: datetime) -> None:
        with self._lock:
            self._now = value

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now


def ledger_rows(schedule: str) -> list[ScheduleFire]:
    with db.session_scope() as session:
        return list(
            session.scalars(
                select(ScheduleFire)
                .where(ScheduleFire.schedule == schedule)
                .order_by(ScheduleFire.due_at)
            )
        )
