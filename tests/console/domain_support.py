"""Domain rows the console's domain pages are tested with, written as the jobs write them."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx

from tests.console.conftest import PASSWORD
from yoked_actors import db
from yoked_actors.models.analytics import DailyMetric
from yoked_actors.models.contract import Message, User
from yoked_actors.models.matching import MatchingRun
from yoked_actors.models.moderation import ModerationResult, UserStrike
from yoked_actors.models.notifications import NotificationDelivery

SECRET = "meet me behind the gym, my number is 555-0142"


def add_matching_run(tz: str, day: date, eligible: int | None, with_offers: int | None) -> None:
    with db.session_scope() as session:
        session.add(
            MatchingRun(
                timezone=tz,
                local_date=day,
                status="completed" if eligible is not None else "running",
                as_of=datetime.now(UTC),
                eligible_users=eligible,
                users_with_offers=with_offers,
                offers_written=(with_offers or 0) * 3,
                duration_ms=None if eligible is None else 1234,
                completed_at=None if eligible is None else datetime.now(UTC),
            )
        )


def add_user() -> uuid.UUID:
    with db.session_scope() as session:
        user = User()
        session.add(user)
        session.flush()
        return user.id


def add_judged_message(
    sender: uuid.UUID, recipient: uuid.UUID, decision: str, categories: list[str], text: str
) -> uuid.UUID:
    with db.session_scope() as session:
        message = Message(sender_id=sender, recipient_id=recipient, content=text)
        session.add(message)
        session.flush()
        session.add(
            ModerationResult(
                message_id=message.id,
                sender_id=sender,
                outcome="decided",
                decision=decision,
                categories=categories,
                signals=["phone"] if decision != "clean" else [],
                engine_version="test-1",
            )
        )
        return message.id


def add_held_verdict(sender: uuid.UUID, recipient: uuid.UUID, text: str) -> uuid.UUID:
    """A message as the moderation job leaves one only the learned classifier found grave:
    hidden, held for review, one held strike, the sender still active."""
    with db.session_scope() as session:
        message = Message(
            sender_id=sender, recipient_id=recipient, content=text, moderation_status="hidden"
        )
        session.add(message)
        session.flush()
        session.add(
            ModerationResult(
                message_id=message.id,
                sender_id=sender,
                outcome="decided",
                decision="hidden",
                categories=["threats"],
                rules_categories=[],
                held=True,
                engine_version="test-1",
            )
        )
        session.add(
            UserStrike(
                user_id=sender,
                message_id=message.id,
                decision="hidden",
                categories=["threats"],
                held=True,
            )
        )
        return message.id


def add_review_backlog(count: int, *, same_time: int = 3) -> list[tuple[datetime, uuid.UUID]]:
    """``count`` flagged messages between two new users, ``same_time`` of them judged at each
    instant (ties the review queue's order breaks by message id); their (time, message id)."""
    sender, recipient = add_user(), add_user()
    start = datetime.now(UTC) - timedelta(hours=1)
    judged = []
    with db.session_scope() as session:
        messages = [
            Message(sender_id=sender, recipient_id=recipient, content=f"backlog {i}")
            for i in range(count)
        ]
        session.add_all(messages)
        session.flush()
        for i, message in enumerate(messages):
            at = start + timedelta(seconds=i // same_time)
            session.add(
                ModerationResult(
                    message_id=message.id,
                    sender_id=sender,
                    outcome="decided",
                    decision="flagged",
                    categories=["scam"],
                    signals=["payment"],
                    engine_version="test-1",
                    created_at=at,
                )
            )
            judged.append((at, message.id))
    return judged


def add_delivery(
    user: uuid.UUID,
    state: str,
    *,
    receipt_error: str | None = None,
    error: str | None = None,
    hours_ago: float = 1,
) -> None:
    at = datetime.now(UTC) - timedelta(hours=hours_ago)
    with db.session_scope() as session:
        session.add(
            NotificationDelivery(
                digest_id=uuid.uuid4(),
                user_id=user,
                kind="new_message",
                item_count=1,
                state=state,
                error=error,
                receipt_status="error" if receipt_error else None,
                receipt_error=receipt_error,
                created_at=at,
                updated_at=at,
            )
        )


def add_metric(day: date, metric: str, value: float | None, dimension: str = "") -> None:
    with db.session_scope() as session:
        session.add(DailyMetric(metric_date=day, metric=metric, dimension=dimension, value=value))


def logged_in(base: str, name: str) -> tuple[httpx.Client, str]:
    """A client with a session cookie, and the session's CSRF token."""
    client = httpx.Client(base_url=base, follow_redirects=False)
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)[1]
    reply = client.post("/login", data={"name": name, "password": PASSWORD, "login_csrf": token})
    assert reply.status_code == 303
    moderation = client.get("/moderation")
    csrf = re.search(r'name="csrf" value="([^"]+)"', moderation.text)[1]
    return client, csrf
