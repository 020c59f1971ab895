"""Human review of moderation verdicts, appeals and rescan findings (docs/moderation.md).

The functions take the caller's session (the CLI's ``yoked moderation review`` and a web console
call the same ones) and never commit. Rules:

- the queue holds every verdict that flagged or hid a message and every rescan finding, until
  a person decides it: verdicts held for review first (hidden on the learned classifier's word
  alone, the sender not yet suspended), then appealed ones; a subject is the verdict (with any
  appeal against it) or one rescan finding (``rescan:<id>``);
- **overturn** a verdict: the message is restored (``clean``), its strike removed, the sender's
  suspension lifted when the strikes left no longer meet the rule (a hidden-message strike, or
  ``STRIKE_LIMIT`` strikes within ``STRIKE_WINDOW``), and the sender notified;
- **uphold** a verdict: nothing changes; an appellant is told the appeal was upheld; a verdict
  held for review is confirmed: its strike now counts as a grave one, the sender is suspended
  (from active, once) and notified;
- **uphold** a rescan finding: its decision is applied to the message, with at most one strike
  per message ever, and the suspension rule is applied; **overturn** a finding: nothing changes;
- every decision is one immutable row (reviewer, reason, effects): the audit. A decision on a
  subject already decided changes nothing and returns the first decision.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from yoked_actors.moderation.engine import Verdict, moderate
from yoked_actors.moderation.store import review as store

OUTCOMES = {"uphold": "upheld", "overturn": "overturned"}


class ReviewError(ValueError):
    """A decision that cannot be made: unknown subject, bad outcome, missing reason."""


@dataclass(frozen=True)
class Decided:
    """What a decision did; ``applied`` is False when the subject was already decided."""

    applied: bool
    outcome: str
    effects: dict[str, Any]


def queue(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """Open items: held verdicts first, then appeals, then oldest first."""
    return [row._asdict() for row in store.review_queue(session, limit)]


def details(session: Session, message_id: uuid.UUID) -> dict[str, Any] | None:
    """Everything a reviewer needs about one message (its text included), or None."""
    return store.review_details(session, message_id)


def appeal(session: Session, message_id: uuid.UUID, user_id: uuid.UUID, reason: str) -> bool:
    """Record a user's appeal (the API does the same INSERT); False if already appealed."""
    return store.insert_appeal(session, message_id, user_id, reason)


def overturn_rates(session: Session) -> dict[str, tuple[int, int]]:
    """Per category: (decisions, overturned): measured false alarms."""
    return store.overturn_rates(session)


def decide(
    session: Session,
    message_id: uuid.UUID,
    action: str,
    *,
    reason: str,
    reviewer: str,
    subject: str = "verdict",
) -> Decided:
    """Uphold or overturn ``subject`` of ``message_id``; exactly once (see the module doc)."""
    from yoked_actors.actors.moderation import STRIKE_LIMIT, STRIKE_WINDOW

    if action not in OUTCOMES:
        raise ReviewError(f"action must be uphold or overturn, not {action!r}")
    if not reason.strip():
        raise ReviewError("a decision needs a reason")
    if not reviewer.strip():
        raise ReviewError("a decision needs a reviewer")
    if subject != "verdict" and not (
        subject.startswith("rescan:") and subject.partition(":")[2].isdigit()
    ):
        raise ReviewError(f"subject must be 'verdict' or 'rescan:<id>', not {subject!r}")
    outcome = OUTCOMES[action]
    store.lock_subject(session, message_id, subject)
    earlier = store.existing_decision(session, message_id, subject)
    if earlier is not None:
        return Decided(applied=False, outcome=earlier.outcome, effects=dict(earlier.effects))
    item = store.subject_under_review(session, message_id, subject)
    if item is None:
        raise ReviewError(f"nothing to review: {subject} of message {message_id}")
    effects: dict[str, Any] = {}
    if subject == "verdict" and outcome == "overturned":
        effects["restored"] = store.restore_message(session, message_id)
        effects["strike_removed"] = store.remove_strike(session, message_id)
        effects["unsuspended"] = store.lift_suspension_if_unmet(
            session, item.sender_id, limit=STRIKE_LIMIT, window=STRIKE_WINDOW
        )
    elif subject == "verdict" and item.held:  # upheld: the suspension the job left to a person
        effects["strike_confirmed"] = store.confirm_held_strike(session, message_id)
        effects["suspended"] = store.suspend_if_met(
            session, item.sender_id, limit=STRIKE_LIMIT, window=STRIKE_WINDOW
        )
    elif subject != "verdict" and outcome == "upheld":
        effects["status_changed"] = store.set_message_status(session, message_id, item.decision)
        effects["strike_added"] = item.decision != "clean" and store.add_strike(
            session, item.sender_id, message_id, item.decision, list(item.categories)
        )
        effects["suspended"] = store.suspend_if_met(
            session, item.sender_id, limit=STRIKE_LIMIT, window=STRIKE_WINDOW
        )
    if (
        effects.get("restored")
        or effects.get("strike_added")
        or effects.get("suspended")
        or item.appealed
    ):
        effects["notified"] = store.notify(
            session,
            item.sender_id,
            f"safety-review:{message_id}:{subject}",
            {
                "messageId": str(message_id),
                "review": outcome,
                "restored": bool(effects.get("restored")),
                "unsuspended": bool(effects.get("unsuspended")),
                "suspended": bool(effects.get("suspended")),
            },
        )
    store.insert_decision(
        session,
        message_id,
        subject,
        outcome=outcome,
        reviewer=reviewer,
        reason=reason,
        effects=effects,
        categories=list(item.categories),
    )
    return Decided(applied=True, outcome=outcome, effects=effects)


def rescan_batch(
    session: Session,
    since: datetime,
    *,
    after: tuple[datetime, uuid.UUID] | None = None,
    batch: int = 500,
    dry_run: bool = False,
    judge: Callable[[str], Verdict] = moderate,
) -> tuple[dict[str, int], tuple[datetime, uuid.UUID] | None]:
    """Re-judge one batch of messages sent since ``since``; returns counts and the next cursor.

    A message already judged by this engine version is skipped. A verdict that differs from the
    stored one becomes a rescan finding for review (once per message and engine version): a
    rescan never writes a result, a status or a strike itself.
    """
    rows = store.messages_to_rescan(session, since, after, batch)
    counts = {"scanned": 0, "same_engine": 0, "unchanged": 0, "findings": 0, "known": 0}
    for row in rows:
        counts["scanned"] += 1
        verdict = judge(row.content)
        if row.engine_version == verdict.engine_version:
            counts["same_engine"] += 1
        elif row.decision == verdict.decision:
            counts["unchanged"] += 1
        elif dry_run or store.insert_finding(session, row.id, row.sender_id, verdict, row.decision):
            counts["findings"] += 1
        else:
            counts["known"] += 1
    cursor = (rows[-1].created_at, rows[-1].id) if rows else None
    return counts, cursor
