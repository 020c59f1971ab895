"""The reconciler: re-derive lost work from PostgreSQL, the source of truth.

A trigger can be lost between a commit and a publish (the API crashed, RabbitMQ was down, a
producer bug), or a process can die mid-way. :func:`reconcile` looks for every state that can be
stranded that way and hands it back to the domain's own idempotent job, so running it on a
healthy system finds nothing and running it twice fixes nothing twice:

- chat messages still ``pending`` past ``pending_after`` with no verdict: ``message.sent`` is
  emitted again (moderation records one verdict and one strike per message, whatever the
  number of events: a late original event changes nothing);
- daily matches dispatched or started and never completed: ``matching.generate_daily`` is sent
  again (a rerun resumes and ends with exactly the same offers);
- outbox rows due and still unpublished (the relay is down): published here, with confirms;
- push deliveries stuck in ``sending`` (a crash between the call and its result): declared
  ``unknown`` and their notifications closed, never re-sent (a push may have gone out);
- runs recorded ``running`` whose row has not moved for ``stale_after``: reported only (a
  message is redelivered by RabbitMQ, or it is gone; the run history cannot tell).

See docs/reliability.md.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from yoked_actors.db import session_scope
from yoked_actors.reconcile import store

logger = logging.getLogger(__name__)

#: Messages re-emitted per run at most (a backlog is worked off over successive runs).
MAX_MESSAGES = 5_000


@dataclass
class Found:
    """What one reconcile run found, and how many of those it fixed."""

    pending_messages: int = 0
    messages_reemitted: int = 0
    unfinished_matching: int = 0
    matching_resent: int = 0
    stuck_outbox: int = 0
    outbox_relayed: int = 0
    stuck_deliveries: int = 0
    deliveries_settled: int = 0
    stale_runs: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def anything(self) -> bool:
        return any(v for k, v in asdict(self).items() if k != "errors") or bool(self.errors)


def reconcile(
    now: datetime,
    *,
    pending_after: timedelta,
    matching_after: timedelta = timedelta(hours=1),
    outbox_after: timedelta = timedelta(minutes=5),
    deliveries_after: timedelta = timedelta(minutes=10),
    stale_after: timedelta = timedelta(hours=1),
) -> Found:
    """Find and re-drive stranded work as of ``now``; returns what was found and fixed."""
    from yoked_actors.events import emit
    from yoked_actors.jobs import get_job
    from yoked_actors.notifications import store as notifications_store
    from yoked_actors.runs.outbox import relay_once

    found = Found()
    with session_scope() as session:
        messages = store.pending_messages(session, now - pending_after, MAX_MESSAGES)
        matching = store.unfinished_matching(session, now - matching_after)
        found.stuck_outbox = store.stuck_outbox(session, now - outbox_after)
        found.stale_runs = store.stale_runs(session, now - stale_after)
    found.pending_messages = len(messages)
    for message_id, content, sender_id in messages:
        emit(
            "message.sent",
            {"messageId": str(message_id), "content": content, "senderId": str(sender_id)},
        )
        found.messages_reemitted += 1
    found.unfinished_matching = len(matching)
    for timezone, local_date in matching:
        get_job("matching.generate_daily").send(
            {"timezone": timezone, "local_date": local_date.isoformat()}
        )
        found.matching_resent += 1
    while found.outbox_relayed < found.stuck_outbox:
        result = relay_once()
        found.outbox_relayed += result.sent
        if result.claimed == 0 or result.sent < result.claimed:
            break
    with session_scope() as session:
        stuck = notifications_store.mark_stuck_unknown(session, now, now - deliveries_after)
        if stuck:
            notifications_store.drop_unknown_digests(session, sorted({d for _, d in stuck}))
    found.stuck_deliveries = found.deliveries_settled = len(stuck)
    level = logging.WARNING if found.anything else logging.INFO
    logger.log(level, "reconcile: %s", found.as_dict(), extra={"reconcile": found.as_dict()})
    return found
