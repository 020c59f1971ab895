"""The job side of ``matching.expire_offers``: pending offers past ``expires_at`` become
``expired``, batch by batch (docs/matching.md).

The due offers are split once (one transaction) into batches of ``batch_size`` consecutive
ids, then each batch is expired by a primary-key range, each batch its own transaction,
``WRITERS`` batches at a time. Each batch is one plain UPDATE whose condition PostgreSQL
rechecks on a row changed meanwhile: an offer answered meanwhile stays answered. A row locked
by a concurrent run or an API write for longer than ``store.EXPIRE_LOCK_WAIT`` makes the batch
start again skipping locked rows (``SKIP LOCKED``): it is never waited on longer, and the next
run takes it. Batches stop starting once the time budget is spent (the first batch always
runs).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from yoked_actors.db import session_scope
from yoked_actors.matching import store
from yoked_actors.matching.generation import in_parallel

#: Offers one expiration run considers at most (the next hourly run takes the rest).
EXPIRE_PER_RUN = 5_000_000


def expire_due(now: datetime, *, batch_size: int, time_budget_s: float) -> dict[str, Any]:
    """Expire pending offers whose ``expires_at`` is at or before ``now``, batch by batch.
    Returns the count, the batches and whether all due offers were seen (False: the time
    budget was spent or more than ``EXPIRE_PER_RUN`` were due)."""
    deadline = time.monotonic() + time_budget_s
    with session_scope() as session:
        due = store.due_batches(session, now, batch_size, EXPIRE_PER_RUN)

    def expire_batch(numbered: tuple[int, store.DueBatch]) -> int | None:
        number, batch = numbered
        if number > 0 and time.monotonic() >= deadline:
            return None  # budget spent: left for the next run (the first batch always runs)
        with session_scope() as session:
            return store.expire_offers(session, now, batch)

    batches = list(enumerate(due))
    # Disjoint batches on two connections at once: both database cores do index writes.
    counts = in_parallel(expire_batch, batches)
    done = [count for count in counts if count is not None]
    return {
        "expired": sum(done),
        "batches": len(done),
        "complete": len(done) == len(batches)
        and sum(batch.count for batch in due) < EXPIRE_PER_RUN,
    }
