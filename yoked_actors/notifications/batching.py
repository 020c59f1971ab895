"""Notification batching: claim, plan, send, record; every pending notification pushed once.

One run of :func:`send_batches` runs ``claimers`` pipelines (default 2) over the same rows, like
concurrent runs; each loops over chunks until nothing is claimable, the run's time is up, or
the push service is out:

1. **Claim** (one transaction): the oldest claimable notifications (``pending``, or ``deferred``
   and due), ``FOR UPDATE SKIP LOCKED``; then their users (``FOR NO KEY UPDATE SKIP LOCKED``,
   which the API's inserts do not wait for) and all those users' claimable rows. A user some of
   whose rows another claimer holds is left for a later chunk, so two concurrent runs never take
   the same row nor split one user's rows into two pushes. Each user's rows are planned by
   :func:`yoked_actors.notifications.digest.plan_user`: dropped and deferred rows are closed
   with their reason, the rest get the digest's ``digest_id`` and one ``notification_deliveries``
   row per active token, in state ``sending``. Committed **before** anything is sent.
2. **Send** through the provider (outside any transaction), while the pipeline claims its next
   chunk.
3. **Record** (one transaction): tickets and errors on the deliveries (only those still
   ``sending``), ``DeviceNotRegistered`` tokens deactivated, the notifications ``sent``, closed,
   or released for the next run (``carried``), as :mod:`.outcomes` classifies the results.

Effects once: a claimed row is never claimable again, so a redelivered or concurrent run cannot
re-send it. If the process dies between 2 and 3, its deliveries stay ``sending``; the next run
after ``unknown_after`` marks them ``unknown`` and closes their notifications
(``delivery_unknown``): reported, never re-sent. A user gets at most one digest per run and
``max_per_day`` per local day.

Step 1 is :mod:`.claim`; the SQL is in :mod:`.store`; receipts are polled by
:mod:`.receipts`. docs/notifications.md describes the states and the knobs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from yoked_actors.clock import Clock, utc_now
from yoked_actors.db import session_scope
from yoked_actors.notifications import store
from yoked_actors.notifications.claim import Chunk, claim_chunk
from yoked_actors.notifications.outcomes import classify_pushes, delivery_state
from yoked_actors.notifications.push import PushProvider, PushResult

logger = logging.getLogger(__name__)

#: How long a claimer waits when another holds every user it was about to claim.
CONTENDED_PAUSE_S = 0.02
MAX_CONTENDED_CHUNKS = 50
#: The counts :func:`send_batches` returns.
SUMMARY_KEYS = (
    "claimed",
    "digests",
    "pushes",
    "sent",
    "failed",
    "carried",
    "unknown",
    "dropped",
    "deferred",
    "tokens_deactivated",
    "stale_unknown",
)


@dataclass(frozen=True)
class BatchOptions:
    """Knobs of one :func:`send_batches` run (defaults suit a 5-minute schedule)."""

    #: Notifications claimed per transaction (their users' other due rows come along).
    chunk_rows: int = 2_000
    #: Digests per user per local day; beyond, rows wait for the next day.
    max_per_day: int = 10
    #: No new chunk is claimed, and no request started, after this many seconds.
    run_seconds: float = 240.0
    #: A delivery still ``sending`` this long after it was written is declared ``unknown``.
    unknown_after: timedelta = timedelta(minutes=10)
    #: Concurrent claim pipelines in one run.
    claimers: int = 2


class _Run:
    """State shared by the claimers of one run."""

    def __init__(
        self, provider: PushProvider, clock: Clock, options: BatchOptions, deadline: float
    ) -> None:
        self.provider = provider
        self.clock = clock
        self.options = options
        self.deadline = deadline
        #: Users who got a digest in this run (the per-run cap).
        self.pushed: set[UUID] = set()
        #: Set when a chunk was carried: out of time, or the push service is down.
        self.stop = threading.Event()

    def deliver(self, chunk: Chunk) -> Counter[str]:
        results = self.provider.send(chunk.messages, deadline=self.deadline)
        recorded = _record(chunk, results, self.clock())
        if recorded["carried"]:
            self.stop.set()
        return recorded

    def release(self, chunk: Chunk) -> Counter[str]:
        """Record a claimed chunk as carried, unsent (the run is stopping)."""
        carried = [PushResult("carried", error="not_started")] * len(chunk.messages)
        return _record(chunk, carried, self.clock())

    def pipeline(self) -> Counter[str]:
        """Claim chunks until none is left, time is up or delivery stops. While one chunk is
        pushed and recorded the next is claimed, so database work and HTTP waits overlap. A
        claimed chunk is always either sent or released, never left half done."""
        counts: Counter[str] = Counter()
        with ThreadPoolExecutor(1, thread_name_prefix="notify-push") as sender:
            in_flight: Future[Counter[str]] | None = None
            exhausted = False
            idle = 0
            while not exhausted and not self.stop.is_set() and time.monotonic() < self.deadline:
                chunk = claim_chunk(
                    self.clock(), self.options.chunk_rows, self.options.max_per_day, self.pushed
                )
                counts.update(chunk.counts)
                exhausted, idle = self._wait_if_contended(chunk, idle)
                if in_flight is not None:
                    counts.update(in_flight.result())
                    in_flight = None
                if self.stop.is_set():
                    counts.update(self.release(chunk))
                elif chunk.messages:
                    in_flight = sender.submit(self.deliver, chunk)
            if in_flight is not None:
                counts.update(in_flight.result())
        return counts

    @staticmethod
    def _wait_if_contended(chunk: Chunk, idle: int) -> tuple[bool, int]:
        """(whether the pipeline is done, consecutive idle chunks) after claiming ``chunk``."""
        if chunk.contended and not chunk.counts["claimed"]:
            # Another claimer holds what is left; it commits in milliseconds. Rows a long
            # transaction keeps locked are left for the next run.
            time.sleep(CONTENDED_PAUSE_S)
            return idle + 1 > MAX_CONTENDED_CHUNKS, idle + 1
        return chunk.exhausted, 0


def send_batches(
    provider: PushProvider,
    *,
    clock: Clock = utc_now,
    options: BatchOptions | None = None,
) -> dict[str, int]:
    """One batching run; returns counts (claimed, digests, pushes, sent, failed, carried,
    unknown, dropped, deferred, tokens_deactivated, stale_unknown).

    Idempotent and safe to run concurrently: nothing claimed or sent is sent again. A user gets
    at most one digest per run; rows that arrive for them during the run wait for the next.
    """
    options = options or BatchOptions()
    run = _Run(provider, clock, options, time.monotonic() + options.run_seconds)
    summary: Counter[str] = Counter()
    summary["stale_unknown"] = _settle_stale(clock(), options.unknown_after)
    # Claimers are independent pipelines over the same rows, exactly like concurrent runs
    # (SKIP LOCKED keeps them apart); two keep both the database and the HTTP side busy.
    with ThreadPoolExecutor(options.claimers, thread_name_prefix="notify-claim") as claimers:
        for part in claimers.map(lambda _: run.pipeline(), range(options.claimers)):
            summary.update(part)
    result = {key: summary[key] for key in SUMMARY_KEYS}
    if result["stale_unknown"] or result["unknown"]:
        logger.warning(
            "notifications: %d deliveries with unknown outcome (not re-sent)",
            result["stale_unknown"] + result["unknown"],
        )
    return result


# -- 3. record ---------------------------------------------------------------------------------


def _record(chunk: Chunk, results: Sequence[PushResult], now: datetime) -> Counter[str]:
    """Record one chunk's results in one transaction; counts per delivery state and
    ``tokens_deactivated``."""
    if not chunk.messages:
        return Counter()
    outcomes = classify_pushes([chunk.deliveries[m.delivery_id] for m in chunk.messages], results)
    counts = outcomes.states
    with session_scope() as session:
        store.record_deliveries(
            session,
            now,
            ids=[m.delivery_id for m in chunk.messages],
            states=[delivery_state(r) for r in results],
            tickets=[r.ticket_id for r in results],
            errors=[r.error for r in results],
        )
        counts["tokens_deactivated"] = store.deactivate_tokens(session, outcomes.dead_tokens)
        if outcomes.sent:
            store.mark_sent(session, _notifications(chunk, outcomes.sent), now)
        if outcomes.released:
            store.release(session, _notifications(chunk, outcomes.released))
        if outcomes.closed:
            closed = [(n, reason) for d, reason in outcomes.closed for n in chunk.digests[d]]
            store.drop_pending(session, closed)
    return counts


def _notifications(chunk: Chunk, digests: Iterable[UUID]) -> list[int]:
    """The ids of the notifications the digests collapse."""
    return [n for d in digests for n in chunk.digests[d]]


def _settle_stale(now: datetime, unknown_after: timedelta) -> int:
    """Deliveries left ``sending`` by a crashed run become ``unknown``; their notifications are
    closed (``delivery_unknown``). Returns how many deliveries."""
    with session_scope() as session:
        stale = store.mark_stuck_unknown(session, now, now - unknown_after)
        if stale:
            store.drop_unknown_digests(session, sorted({d for _, d in stale}))
            logger.warning(
                "notifications: deliveries %s stuck in sending; marked unknown",
                [i for i, _ in stale][:50],
            )
    return len(stale)
