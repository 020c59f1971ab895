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
  once for a hidden message whose grave category (threats, hate, self-harm encouragement,
  coercion) the rules found; one hidden on the learned classifier's (or provider's) word alone
  is held for review: a person's uphold suspends (``decision.held_for_review``);
- a ``safety`` notification to the sender (``dedupe_key = safety:<message id>``) says so.

How: the event's content is judged first (it is almost always the row's), then one SQL statement
(:func:`yoked_actors.moderation.store.record_verdict`) writes the result only if the row exists
*with that content*, and everything else only if the result row was inserted by this delivery. A
redelivered message finds the result and changes nothing (no second strike, no second
notification). When the row's content differs from the event's, or the row is missing, the row
is read and judged instead (or recorded as skipped). One statement per message, instead of a read
and a write, is what keeps decisions in the low milliseconds under load; it runs in autocommit
(``db.statement_scope``), one round trip to the database.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from yoked_actors.db import session_scope, statement_scope
from yoked_actors.events import MessageSent
from yoked_actors.jobs import job
from yoked_actors.moderation import Verdict, engine_version, moderate, store
from yoked_actors.moderation.engine import warm_up
from yoked_actors.moderation.provider import configured_provider
from yoked_actors.queues import Queue

logger = logging.getLogger(__name__)

STRIKE_LIMIT = 3
STRIKE_WINDOW = timedelta(days=30)


def on_worker_boot() -> None:
    """Load the profanity model, the embedding model and the trained head before any message."""
    warm_up()


@job(
    "moderation.moderate_message",
    queue=Queue.MODERATION,
    payload=MessageSent,
    max_retries=8,
    min_backoff=500,
    # Retries end within a few minutes: a verdict is due within 30 s of the message being sent.
    max_backoff=30_000,
    time_limit=30_000,
)
def moderate_message(payload: MessageSent) -> dict[str, Any]:
    """Judge the message and apply the policy. Idempotent; a missing message is skipped."""
    # Judged before any transaction opens: a remote provider may take up to its timeout.
    provider = configured_provider()
    verdict = moderate(payload.content, provider=provider)
    summary = _record(payload.message_id, payload.content, verdict)
    if summary is None:
        # The row's content is not the event's (or the row is gone): judge the row.
        content = _stored_content_or_skip(payload)
        if content is None:
            return {"recorded": 0, "skipped": 1, "strikes": 0}
        verdict = moderate(content, provider=provider)
        summary = _record(payload.message_id, content, verdict)
        if summary is None:  # deleted or edited in between: the next delivery sorts it out
            raise RuntimeError("the message changed while it was being judged; retrying")
    if summary["recorded"]:
        logger.info(
            "moderated message %s: %s",
            payload.message_id,
            verdict.decision,
            extra={"message_id": str(payload.message_id), "decision": verdict.decision},
        )
    return summary


def _record(message_id: uuid.UUID, content: str, verdict: Verdict) -> dict[str, Any] | None:
    """The verdict and its consequences in one statement; None if the row is not ``content``."""
    with statement_scope() as session:
        return store.record_verdict(
            session,
            message_id,
            content,
            verdict,
            strike_limit=STRIKE_LIMIT,
            strike_window=STRIKE_WINDOW,
        )


def _stored_content_or_skip(payload: MessageSent) -> str | None:
    """The row's text; or, when the row is gone, None after recording the message as skipped."""
    with session_scope() as session:
        content = store.stored_content(session, payload.message_id)
        if content is None:
            store.record_skipped(session, payload.message_id, payload.sender_id, engine_version())
    if content is None:
        logger.info("message %s no longer exists; recorded as skipped", payload.message_id)
    return content
