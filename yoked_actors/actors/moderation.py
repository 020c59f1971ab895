"""`moderation.moderate_message`: judge a chat message once, strike and suspend its sender.

Triggered by the event ``message.sent`` (``events.py``): payload ``{messageId, content,
senderId}``. The ``messages`` row is the source of truth: its content is judged, not the event's
(which is only a hint), and a message that no longer exists is recorded as ``skipped``, not
retried.

Policy (docs/moderation.md):

- ``clean`` / ``flagged`` / ``hidden`` is written to ``messages.moderation_status`` with
  ``moderated_at``, and the verdict (scores, categories, engine version; never the text) to
  ``moderation_results``, once per message;
- each flagged or hidden message is one strike against the sender (``user_strikes``);
- the sender is suspended at :data:`STRIKE_LIMIT` strikes within :data:`STRIKE_WINDOW`, or at
  once for a hidden message (threats, hate, self-harm encouragement);
- a ``safety`` notification to the sender (``dedupe_key = safety:<message id>``) says so.

Everything is written in one transaction that starts by inserting the result row: a redelivered
message finds that row and changes nothing (no second strike, no second notification).
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from yoked_actors.db import session_scope
from yoked_actors.events import MessageSent
from yoked_actors.jobs import job
from yoked_actors.models.contract import Message, Notification, User
from yoked_actors.models.moderation import ModerationResult, UserStrike
from yoked_actors.moderation import Verdict, engine_version, moderate
from yoked_actors.moderation.decision import GRAVE
from yoked_actors.moderation.provider import HttpProvider, provider_from_env
from yoked_actors.queues import Queue

log = logging.getLogger(__name__)

STRIKE_LIMIT = 3
STRIKE_WINDOW = timedelta(days=30)

_provider_lock = threading.Lock()
_provider: tuple[HttpProvider | None] | None = None


def configured_provider() -> HttpProvider | None:
    """The remote provider from the environment, built once per process (None: offline)."""
    global _provider
    with _provider_lock:
        if _provider is None:
            _provider = (provider_from_env(),)
        return _provider[0]


@job(
    "moderation.moderate_message",
    queue=Queue.MODERATION,
    payload=MessageSent,
    max_retries=8,
    min_backoff=500,
    max_backoff=30_000,  # retries end within a few minutes: the ADR allows 30 s for a verdict
    time_limit=30_000,
)
def moderate_message(payload: MessageSent) -> dict[str, Any]:
    """Judge the message and apply the policy. Idempotent; a missing message is skipped."""
    with session_scope() as session:
        row = session.execute(
            select(Message.sender_id, Message.content, ModerationResult.message_id)
            .outerjoin(ModerationResult, ModerationResult.message_id == Message.id)
            .where(Message.id == payload.message_id)
        ).one_or_none()
    if row is None:
        return _record_skipped(payload)
    sender_id, content, already = row
    if already is not None:
        return {"recorded": 0, "strikes": 0}
    # Judge outside the transaction: a remote provider may take up to its timeout, and no
    # lock or connection should be held meanwhile.
    verdict = moderate(content, provider=configured_provider())
    with session_scope() as session:
        summary = record_verdict(session, payload.message_id, sender_id, verdict)
    log.info(
        "moderated message %s: %s",
        payload.message_id,
        verdict.decision,
        extra={"message_id": str(payload.message_id), "decision": verdict.decision},
    )
    return summary


def _record_skipped(payload: MessageSent) -> dict[str, Any]:
    with session_scope() as session:
        session.execute(
            insert(ModerationResult)
            .values(
                message_id=payload.message_id,
                sender_id=payload.sender_id,
                outcome="skipped",
                engine_version=engine_version(),
            )
            .on_conflict_do_nothing()
        )
    log.info("message %s no longer exists; recorded as skipped", payload.message_id)
    return {"recorded": 0, "skipped": 1, "strikes": 0}


def record_verdict(
    session: Session, message_id: uuid.UUID, sender_id: uuid.UUID, verdict: Verdict
) -> dict[str, Any]:
    """Write the verdict and its consequences in ``session``'s transaction, once per message.

    Returns counts: ``recorded`` (0 when another delivery already recorded it), ``strikes``
    (0 or 1), ``suspended`` (0 or 1).
    """
    recorded = session.scalars(
        insert(ModerationResult)
        .values(
            message_id=message_id,
            sender_id=sender_id,
            outcome="decided",
            decision=verdict.decision,
            categories=verdict.categories,
            scores=verdict.scores,
            signals=verdict.signals,
            engine_version=verdict.engine_version,
            source=verdict.source,
        )
        .on_conflict_do_nothing()
        .returning(ModerationResult.message_id)
    ).all()
    if not recorded:
        return {"recorded": 0, "strikes": 0, "suspended": 0}
    session.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(moderation_status=verdict.decision, moderated_at=func.now())
    )
    if verdict.decision == "clean":
        return {"recorded": 1, "strikes": 0, "suspended": 0}

    session.execute(
        insert(UserStrike)
        .values(
            user_id=sender_id,
            message_id=message_id,
            decision=verdict.decision,
            categories=verdict.categories,
        )
        .on_conflict_do_nothing()
    )
    strikes = session.scalar(
        select(func.count())
        .select_from(UserStrike)
        .where(UserStrike.user_id == sender_id, UserStrike.created_at > func.now() - STRIKE_WINDOW)
    )
    strikes = strikes or 0
    suspend = strikes >= STRIKE_LIMIT or any(name in GRAVE for name in verdict.categories)
    suspended = 0
    if suspend:
        suspended = len(
            session.scalars(
                update(User)
                .where(User.id == sender_id, User.status == "active")
                .values(status="suspended")
                .returning(User.id)
            ).all()
        )
    session.execute(
        insert(Notification)
        .values(
            user_id=sender_id,
            kind="safety",
            dedupe_key=f"safety:{message_id}",
            payload={
                "messageId": str(message_id),
                "decision": verdict.decision,
                "categories": verdict.categories,
                "strikes": strikes,
                "suspended": bool(suspended),
            },
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    return {"recorded": 1, "strikes": 1, "suspended": suspended}
