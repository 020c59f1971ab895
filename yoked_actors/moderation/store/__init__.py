"""Moderation's SQL: read a message's stored text, record a verdict and its consequences once.

Functions take the caller's session and never begin, commit or roll back: the job
(:mod:`yoked_actors.actors.moderation`) owns the transaction. docs/moderation.md describes the
tables and the policy.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from yoked_actors import sql
from yoked_actors.models.contract import Message
from yoked_actors.models.moderation import ModerationResult
from yoked_actors.moderation.engine import Verdict

#: Everything, once, in one statement: the result only if the row exists with the judged
#: content, and the rest only if this call inserted the result. Data-modifying CTEs see the same
#: snapshot, so the strike count adds this message's strike to those already committed in the
#: window. A verdict held for review (``:held``) strikes and counts towards the limit, but does
#: not suspend by itself (``:suspend_now`` is false): a person's uphold does that
#: (``store.review``).
_RECORD = """
    WITH msg AS (
        SELECT id, sender_id FROM messages WHERE id = :message_id AND content = :content
    ), result AS (
        INSERT INTO moderation_results
            (message_id, sender_id, outcome, decision, categories, scores, signals,
             engine_version, source, rules_categories, held)
        SELECT id, sender_id, 'decided', :decision, :categories, CAST(:scores AS jsonb),
               :signals, :engine_version, :source, :rules_categories, :held
        FROM msg
        ON CONFLICT (message_id) DO NOTHING
        RETURNING message_id, sender_id
    ), status AS (
        UPDATE messages SET moderation_status = :decision, moderated_at = now()
        WHERE id IN (SELECT message_id FROM result)
    ), strike AS (
        INSERT INTO user_strikes (user_id, message_id, decision, categories, held)
        SELECT sender_id, message_id, :decision, :categories, :held FROM result
        WHERE :decision <> 'clean'
        ON CONFLICT (message_id) DO NOTHING
        RETURNING user_id
    ), counted AS (
        SELECT count(*) + (SELECT count(*) FROM strike) AS strikes FROM user_strikes
        WHERE user_id IN (SELECT user_id FROM strike) AND created_at > now() - :window
    ), suspended AS (
        UPDATE users SET status = 'suspended'
        WHERE id IN (SELECT user_id FROM strike) AND status = 'active'
          AND (:suspend_now OR (SELECT strikes FROM counted) >= :limit)
        RETURNING id
    ), notified AS (
        INSERT INTO notifications (user_id, kind, dedupe_key, payload)
        SELECT user_id, 'safety', :dedupe_key, jsonb_build_object(
            'messageId', CAST(:message_id AS text), 'decision', CAST(:decision AS text),
            'categories', to_jsonb(CAST(:categories AS text[])),
            'strikes', (SELECT strikes FROM counted),
            'suspended', EXISTS (SELECT 1 FROM suspended), 'heldForReview', CAST(:held AS boolean))
        FROM strike
        ON CONFLICT (dedupe_key) DO NOTHING
    )
    SELECT (SELECT count(*) FROM msg) AS found,
           (SELECT count(*) FROM result) AS recorded,
           (SELECT count(*) FROM strike) AS strikes,
           (SELECT count(*) FROM suspended) AS suspended
"""


def record_verdict(
    session: Session,
    message_id: uuid.UUID,
    content: str,
    verdict: Verdict,
    *,
    strike_limit: int,
    strike_window: timedelta,
) -> dict[str, Any] | None:
    """Write ``verdict`` on ``content`` and its consequences, once per message.

    A flagged or hidden verdict is a strike against the sender, who is suspended at
    ``strike_limit`` strikes within ``strike_window`` (or at once for a grave category the rules
    found; a verdict held for review waits for a person) and gets a ``safety`` notification
    (``dedupe_key = safety:<message id>``).

    Returns None, writing nothing, unless the message exists with exactly ``content``; else
    counts: ``recorded`` (0 when an earlier delivery recorded it), ``strikes`` (0 or 1),
    ``suspended`` (0 or 1), ``held`` (1 when this call recorded a verdict held for review).
    """
    held = verdict.held
    found, recorded, strikes, suspended = sql.execute(
        session,
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
            "window": strike_window,
            "limit": strike_limit,
            "rules_categories": verdict.rules_categories,
            "held": held,
            "suspend_now": verdict.decision == "hidden" and not held,
            "dedupe_key": f"safety:{message_id}",
        },
    )[0]
    if not found:
        return None
    return {
        "recorded": recorded,
        "strikes": strikes,
        "suspended": suspended,
        "held": int(held and recorded > 0),
    }


def stored_content(session: Session, message_id: uuid.UUID) -> str | None:
    """The message's stored text, or None when the row does not exist."""
    row = session.execute(select(Message.content).where(Message.id == message_id)).one_or_none()
    return None if row is None else row.content


def record_skipped(
    session: Session, message_id: uuid.UUID, sender_id: uuid.UUID, engine_version: str
) -> None:
    """Record that the message no longer existed when it was to be judged (once per message)."""
    session.execute(
        insert(ModerationResult)
        .values(
            message_id=message_id,
            sender_id=sender_id,
            outcome="skipped",
            engine_version=engine_version,
        )
        .on_conflict_do_nothing()
    )
