"""`moderation.moderate_message`: judge a chat message once, strike and suspend its sender.

Triggered by the event ``message.sent`` (``events.py``): payload ``{messageId, content,
senderId}``. The ``messages`` row is the source of truth: what is recorded is always a verdict
on the row's content, and a message that no longer exists is recorded as ``skipped``, not
retried.

Policy (docs/moderation.md):

- ``clean`` / ``flagged`` / ``hidden`` is written to ``messages.moderation_status`` with
  ``moderated_at``, and the verdict (scores, categories, engine version; never the text) to
  ``moderation_results``, once per message;
- each flagged or hidden message is one strike against the sender (``user_strikes``);
- the sender is suspended at :data:`STRIKE_LIMIT` strikes within :data:`STRIKE_WINDOW`, or at
  once for a hidden message (threats, hate, self-harm encouragement);
- a ``safety`` notification to the sender (``dedupe_key = safety:<message id>``) says so.

How, in one SQL statement (:data:`_RECORD`): the event's content is judged first (it is almost
always the row's); the statement writes the result only if the row exists *with that content*,
and everything else only if the result row was inserted by this delivery. A redelivered message
finds the result and changes nothing (no second strike, no second notification). When the row's
content differs from the event's, or the row is missing, the row is read and judged instead (or
recorded as skipped). One statement per message, instead of a read and a write, is what keeps
decisions in the low milliseconds under load.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from yoked_actors.db import session_scope
from yoked_actors.events import MessageSent
from yoked_actors.jobs import job
from yoked_actors.models.contract import Message
from yoked_actors.models.moderation import ModerationResult
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
    # Judged before any transaction opens: a remote provider may take up to its timeout.
    provider = configured_provider()
    verdict = moderate(payload.content, provider=provider)
    with session_scope() as session:
        summary = record_verdict(session, payload.message_id, payload.content, verdict)
    if summary is None:
        # The row's content is not the event's (or the row is gone): judge the row.
        with session_scope() as session:
            row = session.execute(
                select(Message.content).where(Message.id == payload.message_id)
            ).one_or_none()
            if row is None:
                return _record_skipped(session, payload)
        verdict = moderate(row.content, provider=provider)
        with session_scope() as session:
            summary = record_verdict(session, payload.message_id, row.content, verdict)
        if summary is None:  # deleted or edited in between: the next delivery sorts it out
            raise RuntimeError("the message changed while it was being judged; retrying")
    if summary["recorded"]:
        log.info(
            "moderated message %s: %s",
            payload.message_id,
            verdict.decision,
            extra={"message_id": str(payload.message_id), "decision": verdict.decision},
        )
    return summary


def _record_skipped(session: Session, payload: MessageSent) -> dict[str, Any]:
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


#: Everything, once, in one statement. Data-modifying CTEs see the same snapshot, so the strike
#: count adds this message's strike to those already committed in the window.
_RECORD = text(
    """
    WITH msg AS (
        SELECT id, sender_id FROM messages WHERE id = :message_id AND content = :content
    ), result AS (
        INSERT INTO moderation_results
            (message_id, sender_id, outcome, decision, categories, scores, signals,
             engine_version, source)
        SELECT id, sender_id, 'decided', :decision, :categories, CAST(:scores AS jsonb),
               :signals, :engine_version, :source
        FROM msg
        ON CONFLICT (message_id) DO NOTHING
        RETURNING message_id, sender_id
    ), status AS (
        UPDATE messages SET moderation_status = :decision, moderated_at = now()
        WHERE id IN (SELECT message_id FROM result)
    ), strike AS (
        INSERT INTO user_strikes (user_id, message_id, decision, categories)
        SELECT sender_id, message_id, :decision, :categories FROM result
        WHERE :decision <> 'clean'
        ON CONFLICT (message_id) DO NOTHING
        RETURNING user_id
    ), counted AS (
        SELECT count(*) + (SELECT count(*) FROM strike) AS strikes FROM user_strikes
        WHERE user_id IN (SELECT user_id FROM strike) AND created_at > now() - :window
    ), suspended AS (
        UPDATE users SET status = 'suspended'
        WHERE id IN (SELECT user_id FROM strike) AND status = 'active'
          AND (:grave OR (SELECT strikes FROM counted) >= :limit)
        RETURNING id
    ), notified AS (
        INSERT INTO notifications (user_id, kind, dedupe_key, payload)
        SELECT user_id, 'safety', :dedupe_key, jsonb_build_object(
            'messageId', CAST(:message_id AS text), 'decision', CAST(:decision AS text),
            'categories', to_jsonb(CAST(:categories AS text[])),
            'strikes', (SELECT strikes FROM counted),
            'suspended', EXISTS (SELECT 1 FROM suspended))
        FROM strike
        ON CONFLICT (dedupe_key) DO NOTHING
    )
    SELECT (SELECT count(*) FROM msg) AS found,
           (SELECT count(*) FROM result) AS recorded,
           (SELECT count(*) FROM strike) AS strikes,
           (SELECT count(*) FROM suspended) AS suspended
    """
)


def record_verdict(
    session: Session, message_id: uuid.UUID, content: str, verdict: Verdict
) -> dict[str, Any] | None:
    """Write ``verdict`` on ``content`` and its consequences, once per message.

    Returns None, writing nothing, unless the message exists with exactly ``content``; else
    counts: ``recorded`` (0 when an earlier delivery recorded it), ``strikes`` (0 or 1),
    ``suspended`` (0 or 1).
    """
    found, recorded, strikes, suspended = session.execute(
        _RECORD,
        {
            "message_id": message_id,
            "content": content,
            "decision": verdict.decision,
            "categories": verdict.categories,
            "scores": json.dumps(verdict.scores),
            "signals": verdict.signals,
            "engine_version": verdict.engine_version,
            "source": verdict.source,
            "window": STRIKE_WINDOW,
            "limit": STRIKE_LIMIT,
            "grave": any(name in GRAVE for name in verdict.categories),
            "dedupe_key": f"safety:{message_id}",
        },
    ).one()
    if not found:
        return None
    return {"recorded": recorded, "strikes": strikes, "suspended": suspended}
