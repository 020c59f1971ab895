"""Helpers shared by the notification tests: a movable clock, client settings pointed at the
fake Expo server, and factories for the contract rows the batching reads (real PostgreSQL)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from yoked_actors.db import session_scope
from yoked_actors.models.contract import Block, Notification, PushToken, User
from yoked_actors.models.notifications import NotificationDelivery
from yoked_actors.settings import PushSettings

ACCESS_TOKEN = "test-access-token"


class Clock:
    """An injectable clock: ``clock()`` is now; tests move it with ``advance``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def push_settings(url: str, **overrides: Any) -> PushSettings:
    values: dict[str, Any] = dict(
        provider="expo",
        base_url=url,
        access_token=ACCESS_TOKEN,
        rate_limit=100_000,
        concurrency=4,
        timeout_ms=1_000,
        max_attempts=4,
        backoff_ms=10,
    )
    values.update(overrides)
    return PushSettings(**values)


@dataclass
class Rows:
    """Factories for the contract rows the batching reads."""

    clock: Clock

    def user(self, *, timezone: str = "UTC", tokens: int = 1, **columns: Any) -> uuid.UUID:
        user_id = uuid.uuid4()
        with session_scope() as session:
            session.execute(insert(User).values(id=user_id, timezone=timezone, **columns))
            for n in range(tokens):
                session.execute(
                    insert(PushToken).values(
                        user_id=user_id,
                        token=f"ExponentPushToken[{user_id.hex[:12]}-{n}]",
                        platform="ios",
                    )
                )
        return user_id

    def notify(
        self,
        user_id: uuid.UUID,
        kind: str = "new_message",
        *,
        age_minutes: float = 1,
        **payload: Any,
    ) -> int:
        with session_scope() as session:
            return session.execute(
                insert(Notification)
                .values(
                    user_id=user_id,
                    kind=kind,
                    payload=payload,
                    created_at=self.clock() - timedelta(minutes=age_minutes),
                )
                .returning(Notification.id)
            ).scalar_one()

    def block(self, blocker: uuid.UUID, blocked: uuid.UUID) -> None:
        with session_scope() as session:
            session.execute(insert(Block).values(blocker_id=blocker, blocked_id=blocked))

    def tokens(self, user_id: uuid.UUID) -> dict[str, bool]:
        with session_scope() as session:
            return {
                t.token: t.active
                for t in session.scalars(select(PushToken).where(PushToken.user_id == user_id))
            }

    def notifications(self, user_id: uuid.UUID | None = None) -> list[Notification]:
        query = select(Notification).order_by(Notification.id)
        if user_id is not None:
            query = query.where(Notification.user_id == user_id)
        with session_scope() as session:
            return list(session.scalars(query))

    def deliveries(self) -> list[NotificationDelivery]:
        with session_scope() as session:
            return list(
                session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id))
            )
