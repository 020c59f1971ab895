"""Polling push receipts: what Expo finally did with each ticket.

:func:`poll_receipts` pages through sent deliveries without a receipt (oldest id first), asks the
provider for their receipts, and records each one as :func:`.outcomes.receipt_outcome` says;
tokens whose receipt says ``DeviceNotRegistered`` are deactivated. Idempotent: only deliveries
without a receipt are asked about, and a receipt is written once. Each page is read and recorded
in its own short transaction; no transaction is open while the provider is asked. The SQL is in
:mod:`.store`; docs/notifications.md describes the states.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from yoked_actors.clock import Clock, utc_now
from yoked_actors.db import session_scope
from yoked_actors.notifications import store
from yoked_actors.notifications.outcomes import receipt_outcome
from yoked_actors.notifications.push import PushProvider, Receipt

#: Receipts are asked for once tickets are this old (Expo's advice: receipts may take a while).
RECEIPT_DELAY = timedelta(minutes=15)
#: Deliveries per page, and receipt ids asked for per page (Expo takes 1,000 a request).
RECEIPTS_PAGE = 1_000
#: The counts :func:`poll_receipts` returns.
SUMMARY_KEYS = ("checked", "ok", "errors", "expired", "not_ready", "tokens_deactivated")


def poll_receipts(
    provider: PushProvider,
    *,
    clock: Clock = utc_now,
    max_ids: int = 20_000,
) -> dict[str, int]:
    """Fetch receipts for tickets older than 15 minutes (up to ``max_ids`` per run, 1,000 a
    request), record them, and deactivate tokens whose receipt says DeviceNotRegistered.

    Idempotent: only deliveries without a receipt are asked about. A ticket with no receipt a
    day after it was issued is recorded as ``expired``.
    """
    now = clock()
    counts: Counter[str] = Counter()
    after = 0
    while counts["checked"] < max_ids:
        page = _next_page(now, after)
        if not page:
            break
        after = page[-1].id
        counts["checked"] += len(page)
        receipts = provider.get_receipts([row.ticket_id for row in page])
        counts.update(_record_page(page, receipts, now))
        if len(page) < RECEIPTS_PAGE:
            break
    return {key: counts[key] for key in SUMMARY_KEYS}


def _next_page(now: datetime, after: int) -> list[Any]:
    """The next page of deliveries awaiting a receipt, with ids above ``after``."""
    with session_scope() as session:
        return store.awaiting_receipts(
            session, ready=now - RECEIPT_DELAY, after=after, limit=RECEIPTS_PAGE
        )


def _record_page(
    page: Sequence[Any], receipts: Mapping[str, Receipt], now: datetime
) -> Counter[str]:
    """Record the receipts of one page (and expiries) in one transaction; their counts."""
    counts: Counter[str] = Counter()
    updates: list[tuple[int, str, str | None]] = []
    dead_tokens = []
    for row in page:
        outcome = receipt_outcome(receipts.get(row.ticket_id), row.sent_at, now)
        counts[outcome.counted_as] += 1
        if outcome.status is not None:
            updates.append((row.id, outcome.status, outcome.error))
        if outcome.token_dead:
            dead_tokens.append(row.token_id)
    with session_scope() as session:
        if updates:
            store.record_receipts(session, now, updates)
        counts["tokens_deactivated"] += store.deactivate_tokens(session, dead_tokens)
    return counts
