"""Human review's SQL: the queue, decisions (the audit), appeals and rescan findings.

Functions take the caller's session and never begin, commit or roll back;
:mod:`yoked_actors.moderation.review` applies the rules (docs/moderation.md, "Human review").
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from yoked_actors import sql
from yoked_actors.moderation.engine import Verdict

#: Open items: verdicts that flagged or hid a message (appealed or not) and rescan findings,
#: each without a decision on its subject. Verdicts held for review first (each hides a message
#: nobody has looked at yet), then appeals, then the oldest.
_QUEUE = """
    SELECT * FROM (
        SELECT r.message_id, 'verdict' AS subject, r.sender_id, r.decision, r.categories,
               r.engine_version, r.held, (a.id IS NOT NULL) AS appealed, r.created_at
        FROM moderation_results r
        LEFT JOIN moderation_appeals a ON a.message_id = r.message_id
        WHERE r.decision IN ('flagged', 'hidden')
          AND NOT EXISTS (SELECT 1 FROM moderation_review_decisions d
                          WHERE d.message_id = r.message_id AND d.subject = 'verdict')
        UNION ALL
        SELECT f.message_id, 'rescan:' || f.id, f.sender_id, f.decision, f.categories,
               f.engine_version, false, false, f.created_at
        FROM moderation_rescan_findings f
        WHERE NOT EXISTS (SELECT 1 FROM moderation_review_decisions d
                          WHERE d.message_id = f.message_id AND d.subject = 'rescan:' || f.id)
    ) AS open_items
    ORDER BY held DESC, appealed DESC, created_at, message_id, subject
    LIMIT :limit
"""


def review_queue(session: Session, limit: int = 50) -> list[Any]:
    """Open review items (see ``_QUEUE``): held verdicts first, then appeals."""
    return sql.execute(session, _QUEUE, {"limit": limit})


def review_details(session: Session, message_id: uuid.UUID) -> dict[str, Any] | None:
    """The message, its verdict, appeal, rescan findings and decisions; None if unknown."""
    message = sql.execute(
        session,
        "SELECT id, sender_id, recipient_id, content, moderation_status, created_at"
        " FROM messages WHERE id = :id",
        {"id": message_id},
    )
    result = sql.execute(
        session,
        "SELECT decision, categories, rules_categories, held, scores, signals, engine_version,"
        " source, created_at FROM moderation_results WHERE message_id = :id",
        {"id": message_id},
    )
    if not message and not result:
        return None
    appeal = sql.execute(
        session,
        "SELECT reason, created_at FROM moderation_appeals WHERE message_id = :id",
        {"id": message_id},
    )
    findings = sql.execute(
        session,
        "SELECT 'rescan:' || id AS subject, engine_version, previous_decision, decision,"
        " categories, created_at FROM moderation_rescan_findings WHERE message_id = :id"
        " ORDER BY id",
        {"id": message_id},
    )
    decisions = sql.execute(
        session,
        "SELECT subject, outcome, reviewer, reason, effects, created_at"
        " FROM moderation_review_decisions WHERE message_id = :id ORDER BY id",
        {"id": message_id},
    )
    return {
        "message": message[0]._asdict() if message else None,
        "result": result[0]._asdict() if result else None,
        "appeal": appeal[0]._asdict() if appeal else None,
        "findings": [row._asdict() for row in findings],
        "decisions": [row._asdict() for row in decisions],
    }


def lock_subject(session: Session, message_id: uuid.UUID, subject: str) -> None:
    """Serialise decisions on one subject until the transaction ends."""
    sql.execute(
        session,
        "SELECT pg_advisory_xact_lock(hashtextextended(:key, 0920))",
        {"key": f"moderation-review:{message_id}:{subject}"},
    )


def existing_decision(session: Session, message_id: uuid.UUID, subject: str) -> Any | None:
    rows = sql.execute(
        session,
        "SELECT outcome, reviewer, reason, effects, created_at FROM moderation_review_decisions"
        " WHERE message_id = :id AND subject = :subject",
        {"id": message_id, "subject": subject},
    )
    return rows[0] if rows else None


def subject_under_review(session: Session, message_id: uuid.UUID, subject: str) -> Any | None:
    """(sender_id, decision, categories, held, appealed) of the verdict or finding, or None."""
    if subject == "verdict":
        statement = """
            SELECT r.sender_id, r.decision, r.categories, r.held,
                   EXISTS (SELECT 1 FROM moderation_appeals a
                           WHERE a.message_id = r.message_id) AS appealed
            FROM moderation_results r
            WHERE r.message_id = :id AND r.decision IN ('flagged', 'hidden')
        """
        params: dict[str, Any] = {"id": message_id}
    else:
        statement = """
            SELECT sender_id, decision, categories, false AS held, false AS appealed
            FROM moderation_rescan_findings WHERE message_id = :id AND id = :finding
        """
        params = {"id": message_id, "finding": int(subject.partition(":")[2])}
    rows = sql.execute(session, statement, params)
    return rows[0] if rows else None


def restore_message(session: Session, message_id: uuid.UUID) -> bool:
    """A flagged or hidden message back to ``clean``; True if it changed."""
    return bool(
        sql.execute(
            session,
            "UPDATE messages SET moderation_status = 'clean', moderated_at = now()"
            " WHERE id = :id AND moderation_status IN ('flagged', 'hidden') RETURNING id",
            {"id": message_id},
        )
    )


def set_message_status(session: Session, message_id: uuid.UUID, decision: str) -> bool:
    return bool(
        sql.execute(
            session,
            "UPDATE messages SET moderation_status = :decision, moderated_at = now()"
            " WHERE id = :id AND moderation_status IS DISTINCT FROM :decision RETURNING id",
            {"id": message_id, "decision": decision},
        )
    )


def remove_strike(session: Session, message_id: uuid.UUID) -> bool:
    return bool(
        sql.execute(
            session,
            "DELETE FROM user_strikes WHERE message_id = :id RETURNING id",
            {"id": message_id},
        )
    )


def add_strike(
    session: Session,
    user_id: uuid.UUID,
    message_id: uuid.UUID,
    decision: str,
    categories: list[str],
) -> bool:
    """One strike per message, ever: a second call (or the job's strike) changes nothing."""
    return bool(
        sql.execute(
            session,
            "INSERT INTO user_strikes (user_id, message_id, decision, categories)"
            " VALUES (:user, :id, :decision, :categories)"
            " ON CONFLICT (message_id) DO NOTHING RETURNING id",
            {"user": user_id, "id": message_id, "decision": decision, "categories": categories},
        )
    )


def confirm_held_strike(session: Session, message_id: uuid.UUID) -> bool:
    """A held verdict upheld: its strike now suspends like any grave strike; True if it was held."""
    return bool(
        sql.execute(
            session,
            "UPDATE user_strikes SET held = false WHERE message_id = :id AND held RETURNING id",
            {"id": message_id},
        )
    )


#: Does the user still meet the suspension rule: a strike for a hidden (grave) message that is
#: not held for review (the rules found it, or a person upheld it), or ``limit`` strikes within
#: ``window`` (held ones included)?
_MEETS_RULE = """
    EXISTS (SELECT 1 FROM user_strikes
            WHERE user_id = :user AND decision = 'hidden' AND NOT held)
    OR (SELECT count(*) FROM user_strikes
        WHERE user_id = :user AND created_at > now() - :window) >= :limit
"""


def lift_suspension_if_unmet(
    session: Session, user_id: uuid.UUID, *, limit: int, window: timedelta
) -> bool:
    """Suspended -> active when the strikes left no longer meet the rule; True if lifted."""
    return bool(
        sql.execute(
            session,
            f"UPDATE users SET status = 'active' WHERE id = :user AND status = 'suspended'"
            f" AND NOT ({_MEETS_RULE}) RETURNING id",
            {"user": user_id, "limit": limit, "window": window},
        )
    )


def suspend_if_met(session: Session, user_id: uuid.UUID, *, limit: int, window: timedelta) -> bool:
    return bool(
        sql.execute(
            session,
            f"UPDATE users SET status = 'suspended' WHERE id = :user AND status = 'active'"
            f" AND ({_MEETS_RULE}) RETURNING id",
            {"user": user_id, "limit": limit, "window": window},
        )
    )


def notify(session: Session, user_id: uuid.UUID, dedupe_key: str, payload: dict[str, Any]) -> bool:
    """A ``safety`` notification, once per ``dedupe_key``."""
    return bool(
        sql.execute(
            session,
            "INSERT INTO notifications (user_id, kind, dedupe_key, payload)"
            " VALUES (:user, 'safety', :key, CAST(:payload AS jsonb))"
            " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            {"user": user_id, "key": dedupe_key, "payload": json.dumps(payload)},
        )
    )


def insert_decision(
    session: Session,
    message_id: uuid.UUID,
    subject: str,
    *,
    outcome: str,
    reviewer: str,
    reason: str,
    effects: dict[str, Any],
    categories: list[str],
) -> None:
    sql.execute(
        session,
        "INSERT INTO moderation_review_decisions"
        " (message_id, subject, outcome, reviewer, reason, effects, categories)"
        " VALUES (:id, :subject, :outcome, :reviewer, :reason, CAST(:effects AS jsonb),"
        " :categories)",
        {
            "id": message_id,
            "subject": subject,
            "outcome": outcome,
            "reviewer": reviewer,
            "reason": reason,
            "effects": json.dumps(effects, sort_keys=True),
            "categories": categories,
        },
    )


def insert_appeal(session: Session, message_id: uuid.UUID, user_id: uuid.UUID, reason: str) -> bool:
    """What the API does when a user appeals (once per message); True if inserted."""
    return bool(
        sql.execute(
            session,
            "INSERT INTO moderation_appeals (message_id, user_id, reason)"
            " VALUES (:id, :user, :reason) ON CONFLICT (message_id) DO NOTHING RETURNING id",
            {"id": message_id, "user": user_id, "reason": reason},
        )
    )


def overturn_rates(session: Session) -> dict[str, tuple[int, int]]:
    """Per category of reviewed verdicts: (decisions, overturned)."""
    rows = sql.execute(
        session,
        "SELECT category, count(*) AS decided,"
        " count(*) FILTER (WHERE outcome = 'overturned') AS overturned"
        " FROM moderation_review_decisions, unnest(categories) AS category"
        " GROUP BY category ORDER BY category",
    )
    return {row.category: (row.decided, row.overturned) for row in rows}


def messages_to_rescan(
    session: Session, since: datetime, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Any]:
    """Messages sent since ``since`` (keyset after ``after``), with their stored verdict."""
    return sql.execute(
        session,
        """
        SELECT m.id, m.sender_id, m.content, m.created_at, r.decision, r.engine_version
        FROM messages m LEFT JOIN moderation_results r ON r.message_id = m.id
        WHERE m.created_at >= :since
          AND (CAST(:after_at AS timestamptz) IS NULL
               OR (m.created_at, m.id) > (:after_at, :after_id))
        ORDER BY m.created_at, m.id
        LIMIT :limit
        """,
        {
            "since": since,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        },
    )


def insert_finding(
    session: Session,
    message_id: uuid.UUID,
    sender_id: uuid.UUID,
    verdict: Verdict,
    previous_decision: str | None,
) -> bool:
    """A rescan finding for review, once per (message, engine version); True if new."""
    return bool(
        sql.execute(
            session,
            "INSERT INTO moderation_rescan_findings (message_id, sender_id, engine_version,"
            " previous_decision, decision, categories, scores)"
            " VALUES (:id, :sender, :engine, :previous, :decision, :categories,"
            " CAST(:scores AS jsonb)) ON CONFLICT (message_id, engine_version) DO NOTHING"
            " RETURNING id",
            {
                "id": message_id,
                "sender": sender_id,
                "engine": verdict.engine_version,
                "previous": previous_decision,
                "decision": verdict.decision,
                "categories": verdict.categories,
                "scores": json.dumps(verdict.scores),
            },
        )
    )
