"""Idempotency keys: a message whose key already succeeded is skipped, and a job can write its
effects in the same transaction as the mark that it ran.

A sender sets the key (``job.send(payload, idempotency_key="offer:42:accepted")``, or the
``idempotency_key`` message option from any language). Then:

- before the job runs, a key already in ``idempotency_keys`` skips the message (recorded as
  ``skipped`` in the run history);
- inside the job, :func:`claim_once` inserts the key in the job's own transaction: the effects
  and the mark commit together or not at all, so a message redelivered after a crash, even
  while the first delivery is still running, changes nothing;
- a job that does not call :func:`claim_once` gets its key marked right after it succeeds
  (a separate transaction: that protects against redelivery after the fact, not against a crash
  between the job's commit and the mark).

Without an explicit key, :func:`claim_once` uses ``message:<message id>``, which makes a job
effects-once under redelivery (not against two separate sends of the same thing).

The statements are in :mod:`yoked_actors.runs.store`; see docs/reliability.md.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from dramatiq import Broker, Middleware
from dramatiq.middleware import CurrentMessage, SkipMessage
from sqlalchemy.orm import Session

from yoked_actors import db
from yoked_actors.errors import describe_error
from yoked_actors.runs import store
from yoked_actors.runs.current import mark_skipped

logger = logging.getLogger(__name__)

_claimed = threading.local()

ALREADY_DONE = "already done: idempotency key claimed by an earlier run"


def current_idempotency_key() -> str | None:
    """The key of the message being processed by this thread: its ``idempotency_key`` option,
    else ``message:<message id>``; None outside a worker."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return None
    return message.options.get("idempotency_key") or f"message:{message.message_id}"


def claim_once(session: Session, key: str | None = None) -> bool:
    """Mark ``key`` (default: :func:`current_idempotency_key`) as done, in ``session``'s
    transaction. True: this run owns it, go on and write the effects in the same session.
    False: an earlier run already did it (the run is recorded as skipped); write nothing.

    A concurrent run claiming the same key waits for the first one's transaction: if that
    commits, this one gets False; if it rolls back, this one gets True.

    Raises:
      ValueError: no key given and no message being processed (called outside a worker).
    """
    key = key or current_idempotency_key()
    if key is None:
        raise ValueError("claim_once needs a key outside a worker")
    message = CurrentMessage.get_current_message()
    claimed = store.claim_key(
        session,
        key,
        actor=message.actor_name if message else None,
        message_id=message.message_id if message else None,
    )
    if not claimed:
        mark_skipped(ALREADY_DONE)
        return False
    _claimed.key = key
    return True


class Idempotency(Middleware):
    """Skips messages whose ``idempotency_key`` already succeeded; marks it after a success.

    Placement: after RunHistory (so the skip is recorded with its reason) and before the job.
    """

    def before_process_message(self, broker: Broker, message: Any) -> None:
        _claimed.key = None
        key = message.options.get("idempotency_key")
        if not key:
            return
        with db.session_scope() as session:
            done = store.key_claimed(session, key)
        if done:
            mark_skipped(ALREADY_DONE)
            raise SkipMessage(ALREADY_DONE)

    def after_process_message(
        self,
        broker: Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        key = message.options.get("idempotency_key")
        if exception is not None or not key or getattr(_claimed, "key", None) == key:
            return
        try:
            with db.session_scope() as session:
                store.mark_key(
                    session, key, actor=message.actor_name, message_id=message.message_id
                )
        except Exception as error:
            # The job's effects are committed already; failing the message now would run it
            # again. Jobs that must be exactly-once use claim_once in their own transaction.
            logger.warning(
                "idempotency: could not mark key of message %s (%s)",
                message.message_id,
                describe_error(error)[0],
            )
