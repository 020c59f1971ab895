"""Helpers for the scheduling tests: a settable clock, the ledger and queue contents."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from dramatiq.brokers.rabbitmq import RabbitmqBroker
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


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ledger_rows(schedule: str) -> list[ScheduleFire]:
    with db.session_scope() as session:
        return list(
            session.scalars(
                select(ScheduleFire)
                .where(ScheduleFire.schedule == schedule)
                .order_by(ScheduleFire.due_at)
            )
        )


def drain(broker: RabbitmqBroker, queue: str) -> list[dict[str, Any]]:
    """Take every message out of ``queue`` (nothing consumes it in these tests)."""
    import json

    channel = broker.channel
    bodies: list[dict[str, Any]] = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(json.loads(body))
