"""Rows for moderation tests: users and messages written as the API would write them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from yoked_actors.db import session_scope
from yoked_actors.models.contract import Message, User
from yoked_actors.models.moderation import ModerationResult

#: A few labelled lines, hostile and clean, for tests that train or evaluate a small head.
LABELLED = [
    ("threats", "i will break your legs in the parking lot"),
    ("threats", "wait for you outside your house tonight"),
    ("hate", "all immigrants are vermin"),
    ("drugs", "selling tren and dbol, dm me"),
    ("clean", "great squat session today"),
    ("clean", "see you at the gym at 6"),
]


def make_user(status: str = "active") -> uuid.UUID:
    with session_scope() as session:
        user = User(status=status)
        session.add(user)
        session.flush()
        return user.id


def make_message(sender: uuid.UUID, recipient: uuid.UUID, content: str) -> uuid.UUID:
    with session_scope() as session:
        message = Message(sender_id=sender, recipient_id=recipient, content=content)
        session.add(message)
        session.flush()
        return message.id


def event_for(message_id: uuid.UUID, sender: uuid.UUID, content: str = "hint") -> dict[str, Any]:
    """The camelCase payload the API sends."""
    return {"messageId": str(message_id), "content": content, "senderId": str(sender)}


def result_of(message_id: uuid.UUID) -> ModerationResult | None:
    with session_scope() as session:
        return session.get(ModerationResult, message_id)


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns something truthy (a worker commits asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout} s")


def user_status(user_id: uuid.UUID) -> str:
    with session_scope() as session:
        return session.scalar(select(User.status).where(User.id == user_id)) or ""


def judged(sender: uuid.UUID, content: str) -> uuid.UUID:
    """A new message from ``sender`` with ``content``, judged by the moderation job."""
    from yoked_actors.jobs import get_job

    message = make_message(sender, make_user(), content)
    get_job("moderation.moderate_message").run(event_for(message, sender, content=content))
    return message


def message_status(message_id: uuid.UUID) -> str:
    with session_scope() as session:
        status = session.scalar(select(Message.moderation_status).where(Message.id == message_id))
    return status or ""
