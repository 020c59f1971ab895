"""moderation.moderate_message through real RabbitMQ and PostgreSQL: once per message, strikes,
suspension, safety notifications, skipped deletions."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from moderation_support import (
    event_for,
    make_message,
    make_user,
    result_of,
    user_status,
    wait_for,
)
from sqlalchemy import func, select, update

from yoked_actors import events
from yoked_actors.actors.moderation import STRIKE_LIMIT, STRIKE_WINDOW
from yoked_actors.db import session_scope
from yoked_actors.jobs import get_job
from yoked_actors.models.contract import Message, Notification
from yoked_actors.models.moderation import ModerationResult, UserStrike
from yoked_actors.queues import Queue


def _strikes(user_id: uuid.UUID) -> int:
    with session_scope() as session:
        return (
            session.scalar(
                select(func.count()).select_from(UserStrike).where(UserStrike.user_id == user_id)
            )
            or 0
        )


def _safety_notifications(user_id: uuid.UUID) -> list[Notification]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(Notification).where(
                    Notification.user_id == user_id, Notification.kind == "safety"
                )
            )
        )


def test_an_emitted_message_sent_is_judged_by_a_worker_and_its_row_updated(
    rabbitmq_broker: RabbitmqBroker, worker: Worker
) -> None:
    sender, recipient = make_user(), make_user()
    clean = make_message(sender, recipient, "see you at the gym at 6?")
    dirty = make_message(sender, recipient, "add me on snap: jlifts")

    events.emit("message.sent", event_for(clean, sender))
    events.emit("message.sent", event_for(dirty, sender))
    rabbitmq_broker.join(Queue.MODERATION, timeout=30_000)
    worker.join()

    with session_scope() as session:
        statuses = dict(
            session.execute(
                select(Message.id, Message.moderation_status).where(
                    Message.id.in_([clean, dirty]), Message.moderated_at.is_not(None)
                )
            ).all()
        )
    assert statuses == {clean: "clean", dirty: "flagged"}
    result = result_of(dirty)
    assert result is not None
    assert (result.outcome, result.decision, result.categories) == (
        "decided",
        "flagged",
        ["off_platform"],
    )
    assert result.engine_version.startswith("yoked-moderation ")
    assert _strikes(sender) == 1
    [notice] = _safety_notifications(sender)
    assert notice.dedupe_key == f"safety:{dirty}"
    assert notice.payload["decision"] == "flagged"


@pytest.mark.parametrize(
    ("row", "hint", "decision"),
    [("I will kill you", "hello!", "hidden"), ("see you at 6", "I will kill you", "clean")],
)
def test_the_row_is_judged_not_the_event_content(
    clean_db: str, row: str, hint: str, decision: str
) -> None:
    sender, recipient = make_user(), make_user()
    message = make_message(sender, recipient, row)

    get_job("moderation.moderate_message").run(event_for(message, sender, content=hint))

    assert result_of(message).decision == decision  # type: ignore[union-attr]
    assert user_status(sender) == ("suspended" if decision == "hidden" else "active")


def test_a_redelivered_message_adds_no_second_strike_or_notification(
    rabbitmq_broker: RabbitmqBroker, worker: Worker
) -> None:
    sender, recipient = make_user(), make_user()
    message = make_message(sender, recipient, "venmo me 50")
    payload = event_for(message, sender)

    # The same message delivered three times (at-least-once delivery), two of them at once.
    for _ in range(3):
        events.emit("message.sent", payload)
    rabbitmq_broker.join(Queue.MODERATION, timeout=30_000)
    worker.join()
    summary = get_job("moderation.moderate_message").run(payload)

    assert summary == {"recorded": 0, "strikes": 0, "suspended": 0, "held": 0}
    assert _strikes(sender) == 1
    assert len(_safety_notifications(sender)) == 1
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ModerationResult)) == 1


def test_a_deleted_message_is_recorded_as_skipped_not_retried(
    rabbitmq_broker: RabbitmqBroker, worker: Worker
) -> None:
    sender = make_user()
    gone = uuid.uuid4()

    events.emit("message.sent", event_for(gone, sender, content="fuck you"))
    rabbitmq_broker.join(Queue.MODERATION, timeout=30_000)
    worker.join()

    result = result_of(gone)
    assert result is not None
    assert (result.outcome, result.decision, result.sender_id) == ("skipped", None, sender)
    assert _strikes(sender) == 0
    assert (
        rabbitmq_broker.channel.queue_declare(
            f"{Queue.MODERATION}.XQ", passive=True
        ).method.message_count
        == 0
    )


def test_the_third_strike_in_30_days_suspends_and_older_strikes_do_not_count(
    clean_db: str,
) -> None:
    sender, recipient = make_user(), make_user()
    job = get_job("moderation.moderate_message")
    old = make_message(sender, recipient, "venmo me 50")
    job.run(event_for(old, sender))
    with session_scope() as session:  # that strike is now older than the window
        session.execute(
            update(UserStrike)
            .where(UserStrike.message_id == old)
            .values(created_at=func.now() - STRIKE_WINDOW - timedelta(hours=1))
        )
    for text in ("add me on snap", "my number is 555 123 4567"):
        job.run(event_for(make_message(sender, recipient, text), sender))
    assert (_strikes(sender), user_status(sender)) == (3, "active")

    last = make_message(sender, recipient, "paypal me for the session")
    summary = job.run(event_for(last, sender))

    assert STRIKE_LIMIT == 3
    assert summary == {"recorded": 1, "strikes": 1, "suspended": 1, "held": 0}
    assert user_status(sender) == "suspended"
    notice = next(n for n in _safety_notifications(sender) if n.dedupe_key == f"safety:{last}")
    assert notice.payload == {
        "messageId": str(last),
        "decision": "flagged",
        "categories": ["payment"],
        "strikes": 3,
        "suspended": True,
        "heldForReview": False,
    }


def test_a_grave_message_is_hidden_and_suspends_at_once(clean_db: str) -> None:
    sender, recipient = make_user(), make_user()
    message = make_message(sender, recipient, "k y s")

    summary = get_job("moderation.moderate_message").run(event_for(message, sender))

    assert summary == {"recorded": 1, "strikes": 1, "suspended": 1, "held": 0}
    assert result_of(message).decision == "hidden"  # type: ignore[union-attr]
    assert user_status(sender) == "suspended"


def test_a_deactivated_sender_stays_deactivated(clean_db: str) -> None:
    sender, recipient = make_user(status="deactivated"), make_user()
    message = make_message(sender, recipient, "I will kill you")

    get_job("moderation.moderate_message").run(event_for(message, sender))

    assert user_status(sender) == "deactivated"
    wait_for(lambda: result_of(message))
