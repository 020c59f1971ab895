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
    provider = configured_provider()
    content: str | None = None
    with session_scope() as session:
        row = session.execute(
            select(Message.sender_id, Message.content, ModerationResult.message_id)
            .outerjoin(ModerationResult, ModerationResult.message_id == Message.id)
            .where(Message.id == payload.message_id)
        ).one_or_none()
        if row is None:
            return _record_skipped(session, payload)
        sender_id, content, already = row
        if already is not None:
            return {"recorded": 0, "strikes": 0}
        if provider is None:
            # The local engine takes about 2 ms: judging inside this transaction saves a second
            # connection checkout and BEGIN/COMMIT per message (latency is this job's target).
            verdict = moderate(content)
            summary = record_verdict(session, payload.message_id, sender_id, verdict)
    if provider is not None:
        # A remote provider may take up to its timeout: judge with no transaction open.
        verdict = moderate(content, provider=provider)
        with session_scope() as session:
            summary = record_verdict(session, payload.message_id, sender_id, verdict)
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


#: The result, the message's status and the strike, in one statement (one round trip). The
#: strike and the status are written only if this delivery inserted the result: a redelivery
#: finds the result row and changes nothing.
_RECORD = text(
    """
    WITH result AS (
        INSERT INTO moderation_results
            (message_id, sender_id, outcome, decision, categories, scores, signals,
             engine_version, source)
        VALUES (:message_id, :sender_id, 'decided', :decision, :categories,
                CAST(:scores AS jsonb), :signals, :engine_version, :source)
        ON CONFLICT (message_id) DO NOTHING
        RETURNING message_id
    ), status AS (
        UPDATE messages SET moderation_status = :decision, moderated_at = now()
        WHERE id IN (SELECT message_id FROM result)
    ), strike AS (
        INSERT INTO user_strikes (user_id, message_id, decision, categories)
        SELECT :sender_id, message_id, :decision, :categories FROM result
        WHERE :decision <> 'clean'
        ON CONFLICT (message_id) DO NOTHING
        RETURNING id
    )
    SELECT (SELECT count(*) FROM result) AS recorded, (SELECT count(*) FROM strike) AS strikes
    """
)

#: After a strike: count the sender's strikes in the window (this transaction's included),
#: suspend at the limit or at once for a grave category, and notify the sender, in one statement.
_ENFORCE = text(
    """
    WITH counted AS (
        SELECT count(*) AS strikes FROM user_strikes
        WHERE user_id = :sender_id AND created_at > now() - :window
    ), suspended AS (
        UPDATE users SET status = 'suspended'
        WHERE id = :sender_id AND status = 'active'
          AND (:grave OR (SELECT strikes FROM counted) >= :limit)
        RETURNING id
    ), notified AS (
        INSERT INTO notifications (user_id, kind, dedupe_key, payload)
        SELECT :sender_id, 'safety', :dedupe_key, jsonb_build_object(
            'messageId', CAST(:message_id AS text), 'decision', CAST(:decision AS text),
            'categories', to_jsonb(CAST(:categories AS text[])),
            'strikes', (SELECT strikes FROM counted),
            'suspended', EXISTS (SELECT 1 FROM suspended))
        ON CONFLICT (dedupe_key) DO NOTHING
    )
    SELECT (SELECT strikes FROM counted) AS strikes, (SELECT count(*) FROM suspended) AS suspended
    """
)


def record_verdict(
    session: Session, message_id: uuid.UUID, sender_id: uuid.UUID, verdict: Verdict
) -> dict[str, Any]:
    """Write the verdict and its consequences in ``session``'s transaction, once per message.

    Returns counts: ``recorded`` (0 when another delivery already recorded it), ``strikes``
    (0 or 1), ``suspended`` (0 or 1).
    """
    recorded, strikes = session.execute(
        _RECORD,
        {
            "message_id": message_id,
            "sender_id": sender_id,
            "decision": verdict.decision,
            "categories": verdict.categories,
            "scores": json.dumps(verdict.scores),
            "signals": verdict.signals,
            "engine_version": verdict.engine_version,
            "source": verdict.source,
        },
    ).one()
    if not strikes:
        return {"recorded": recorded, "strikes": 0, "suspended": 0}
    _, suspended = session.execute(
        _ENFORCE,
        {
            "sender_id": sender_id,
            "message_id": message_id,
            "window": STRIKE_WINDOW,
            "limit": STRIKE_LIMIT,
            "grave": any(name in GRAVE for name in verdict.categories),
            "dedupe_key": f"safety:{message_id}",
            "decision": verdict.decision,
            "categories": verdict.categories,
        },
    ).one()
    return {"recorded": recorded, "strikes": 1, "suspended": suspended}
