"""The database work of notification batching: claim, plan, record; and receipts.

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
   or released for the next run (``carried``).

Effects once: a claimed row is never claimable again, so a redelivered or concurrent run cannot
re-send it. If the process dies between 2 and 3, its deliveries stay ``sending``; the next run
after ``unknown_after`` marks them ``unknown`` and closes their notifications
(``delivery_unknown``): reported, never re-sent. A user gets at most one digest per run and
``max_per_day`` per local day.

Set-based statements (``unnest`` of arrays) run with binary parameters through :func:`_sql`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy.orm import Session

from yoked_actors.db import session_scope
from yoked_actors.notifications.digest import (
    PendingNotification,
    Recipient,
    UserPlan,
    plan_user,
)
from yoked_actors.notifications.expo import PushMessage, PushProvider, PushResult
from yoked_actors.notifications.quiet_hours import local_day

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

#: Receipts are asked for once tickets are this old (Expo's advice: receipts may take a while).
RECEIPT_DELAY = timedelta(minutes=15)
#: Expo keeps receipts for a day; after that a missing receipt will never come.
RECEIPT_RETENTION = timedelta(hours=24)
RECEIPTS_PAGE = 1_000
#: How long a claimer waits when another holds every user it was about to claim.
CONTENDED_PAUSE_S = 0.02
MAX_CONTENDED_CHUNKS = 50


def utcnow() -> datetime:
    return datetime.now(UTC)


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


_CLAIMABLE = (
    "n.digest_id IS NULL AND (n.status = 'pending' "
    "OR (n.status = 'deferred' AND n.deliver_after <= :now))"
)


@dataclass
class _Chunk:
    """What one claim transaction produced."""

    counts: Counter[str] = field(default_factory=Counter)
    messages: list[PushMessage] = field(default_factory=list)
    #: delivery id -> (digest id, token id)
    deliveries: dict[int, tuple[UUID, int]] = field(default_factory=dict)
    #: digest id -> the notification ids it collapses
    digests: dict[UUID, tuple[int, ...]] = field(default_factory=dict)
    #: push_tokens.id -> token, for the users of this chunk
    tokens: dict[int, str] = field(default_factory=dict)
    #: Fewer claimable rows than a chunk were left: nothing more for this run.
    exhausted: bool = False
    #: Some users or rows of the chunk were held by another claimer: try again shortly.
    contended: bool = False


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

    def deliver(self, chunk: _Chunk) -> Counter[str]:
        results = self.provider.send(chunk.messages, deadline=self.deadline)
        recorded = _record(chunk, results, self.clock())
        if recorded["carried"]:
            self.stop.set()
        return recorded

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
                chunk = _claim(self.clock(), self.options, self.pushed)
                counts.update(chunk.counts)
                exhausted = chunk.exhausted
                if chunk.contended and not chunk.counts["claimed"]:
                    # Another claimer holds what is left; it commits in milliseconds. Rows a
                    # long transaction keeps locked are left for the next run.
                    idle += 1
                    exhausted = idle > MAX_CONTENDED_CHUNKS
                    time.sleep(CONTENDED_PAUSE_S)
                else:
                    idle = 0
                if in_flight is not None:
                    counts.update(in_flight.result())
                    in_flight = None
                if self.stop.is_set():
                    carried = [PushResult("carried", error="not_started")] * len(chunk.messages)
                    counts.update(_record(chunk, carried, self.clock()))
                elif chunk.messages:
                    in_flight = sender.submit(self.deliver, chunk)
            if in_flight is not None:
                counts.update(in_flight.result())
        return counts


def send_batches(
    provider: PushProvider,
    *,
    clock: Clock = utcnow,
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
    keys = (
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
    result = {key: summary[key] for key in keys}
    if result["stale_unknown"] or result["unknown"]:
        log.warning(
            "notifications: %d deliveries with unknown outcome (not re-sent)",
            result["stale_unknown"] + result["unknown"],
        )
    return result


def _sql(session: Session, statement: str, params: Mapping[str, Any]) -> list[Any]:
    """Run ``statement`` (``:name`` parameters) on the session's connection and transaction with
    binary parameters and results (``%(name)b``): the id, uuid and time arrays of the set-based
    statements below dump faster than as text, with no quoting (DESIGN.md: unnest with binary
    parameters)."""
    connection = session.connection().connection.driver_connection
    assert isinstance(connection, psycopg.Connection)
    with connection.cursor(row_factory=namedtuple_row) as cursor:
        cursor.execute(_PARAM.sub(r"%(\1)b", statement), params, binary=True)
        return cursor.fetchall() if cursor.description else []


# `:name` parameters, not `::type` casts.
_PARAM = re.compile(r"(?<![:\w]):([a-z_]+)")


# -- 1. claim ----------------------------------------------------------------------------------


def _claim(now: datetime, options: BatchOptions, pushed: set[UUID]) -> _Chunk:
    """Claim the oldest claimable rows, their users, and all those users' claimable rows.

    Rows and users are locked with ``SKIP LOCKED``, so concurrent claimers take disjoint sets.
    A user some of whose claimable rows another claimer holds right now (its seed caught them)
    is left alone this time, so that one user's rows are never split into two pushes.
    """
    chunk = _Chunk()
    with session_scope() as session:
        seeds = _sql(
            session,
            f"SELECT n.user_id FROM notifications n WHERE {_CLAIMABLE} "
            "ORDER BY n.created_at LIMIT :rows FOR UPDATE SKIP LOCKED",
            {"now": now, "rows": options.chunk_rows},
        )
        chunk.exhausted = len(seeds) < options.chunk_rows
        users = sorted({seed[0] for seed in seeds} - pushed)
        if not users:
            # Nothing left, or only users who already had this run's digest.
            chunk.exhausted = True
            return chunk
        recipients = _lock_recipients(session, users, now, chunk.tokens)
        # Users another claimer holds right now are skipped; they must not end the run.
        chunk.contended = len(recipients) < len(users)
        if not recipients:
            chunk.exhausted = False
            return chunk
        rows = [
            PendingNotification(
                id=r.id,
                user_id=r.user_id,
                kind=r.kind,
                payload=r.payload or {},
                created_at=r.created_at,
            )
            for r in _sql(
                session,
                f"SELECT n.id, n.user_id, n.kind, n.payload, n.created_at "
                f"FROM notifications n WHERE n.user_id = ANY(:users) AND {_CLAIMABLE} "
                "FOR UPDATE SKIP LOCKED",
                {"users": list(recipients), "now": now},
            )
        ]
        by_user: dict[UUID, list[PendingNotification]] = defaultdict(list)
        for row in rows:
            by_user[row.user_id].append(row)
        claimable = _sql(
            session,
            f"SELECT n.user_id, count(*) AS n FROM notifications n "
            f"WHERE n.user_id = ANY(:users) AND {_CLAIMABLE} GROUP BY n.user_id",
            {"users": list(by_user), "now": now},
        )
        for user_id, count in claimable:
            if count != len(by_user[user_id]):
                del by_user[user_id]  # straddled: its rows go together in a later chunk
                chunk.contended = True
        if chunk.contended:
            chunk.exhausted = False
        rows = [row for user_rows in by_user.values() for row in user_rows]
        plans = {
            user_id: plan_user(
                user_rows, recipients.get(user_id), now, max_per_day=options.max_per_day
            )
            for user_id, user_rows in by_user.items()
        }
        chunk.counts["claimed"] = len(rows)
        _write_plans(session, plans, now, chunk)
        pushed.update(user_id for user_id, plan in plans.items() if plan.digest)
    return chunk


def _lock_recipients(
    session: Session, users: list[UUID], now: datetime, token_values: dict[int, str]
) -> dict[UUID, Recipient]:
    """Lock the users no other claimer is working on and load what their plans need; their
    active tokens' values go into ``token_values`` (to address the pushes, never stored)."""
    locked = _sql(
        session,
        "SELECT id, status = 'active' AND deleted_at IS NULL AS active, "
        "status = 'suspended' AND deleted_at IS NULL AS suspended, timezone, "
        "quiet_hours_start, quiet_hours_end FROM users WHERE id = ANY(:users) "
        "ORDER BY id FOR NO KEY UPDATE SKIP LOCKED",
        {"users": users},
    )
    if not locked:
        return {}
    ids = [u.id for u in locked]
    tokens: dict[UUID, list[int]] = defaultdict(list)
    for user_id, token_id, token in _sql(
        session,
        "SELECT user_id, id, token FROM push_tokens WHERE user_id = ANY(:users) AND active "
        "ORDER BY id",
        {"users": ids},
    ):
        tokens[user_id].append(token_id)
        token_values[token_id] = token
    blocked: dict[UUID, set[str]] = defaultdict(set)
    for blocker, blocked_id in _sql(
        session,
        "SELECT blocker_id, blocked_id::text FROM blocks WHERE blocker_id = ANY(:users)",
        {"users": ids},
    ):
        blocked[blocker].add(blocked_id)
    recent: dict[UUID, list[datetime]] = defaultdict(list)
    for user_id, first_at in _sql(
        session,
        "SELECT user_id, min(created_at) FROM notification_deliveries "
        "WHERE user_id = ANY(:users) AND created_at > :since "
        "AND state IN ('sending', 'sent', 'unknown') GROUP BY user_id, digest_id",
        {"users": ids, "since": now - timedelta(hours=48)},
    ):
        recent[user_id].append(first_at)
    recipients = {}
    for user in locked:
        today = local_day(now, user.timezone)
        recipients[user.id] = Recipient(
            user_id=user.id,
            active=bool(user.active),
            suspended=bool(user.suspended),
            timezone=user.timezone,
            quiet_hours_start=user.quiet_hours_start,
            quiet_hours_end=user.quiet_hours_end,
            token_ids=tuple(tokens[user.id]),
            blocked=frozenset(blocked[user.id]),
            digests_today=sum(1 for at in recent[user.id] if local_day(at, user.timezone) == today),
        )
    return recipients


def _write_plans(
    session: Session, plans: dict[UUID, UserPlan], now: datetime, chunk: _Chunk
) -> None:
    dropped = [d for plan in plans.values() for d in plan.dropped]
    deferred = [d for plan in plans.values() for d in plan.deferred]
    digests = {uuid.uuid4(): plan.digest for plan in plans.values() if plan.digest}
    if dropped:
        _sql(
            session,
            "UPDATE notifications n SET status = 'dropped', status_reason = d.reason "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:reasons AS text[])) AS d(id, reason) "
            "WHERE n.id = d.id AND n.id = ANY(:ids)",
            {"ids": [i for i, _ in dropped], "reasons": [r for _, r in dropped]},
        )
    if deferred:
        _sql(
            session,
            "UPDATE notifications n SET status = 'deferred', deliver_after = d.at, "
            "status_reason = d.reason FROM unnest(CAST(:ids AS bigint[]), "
            "CAST(:ats AS timestamptz[]), CAST(:reasons AS text[])) AS d(id, at, reason) "
            "WHERE n.id = d.id AND n.id = ANY(:ids)",
            {
                "ids": [d[0] for d in deferred],
                "ats": [d[1] for d in deferred],
                "reasons": [d[2] for d in deferred],
            },
        )
    chunk.counts["dropped"] += len(dropped)
    chunk.counts["deferred"] += len(deferred)
    if not digests:
        return
    claimed = [(n, digest_id) for digest_id, d in digests.items() for n in d.notification_ids]
    _sql(
        session,
        "UPDATE notifications n SET status = 'pending', digest_id = d.digest "
        "FROM unnest(CAST(:ids AS bigint[]), CAST(:digests AS uuid[])) AS d(id, digest) "
        "WHERE n.id = d.id AND n.id = ANY(:ids)",
        {"ids": [n for n, _ in claimed], "digests": [d for _, d in claimed]},
    )
    targets = [
        (digest_id, d, token_id) for digest_id, d in digests.items() for token_id in d.token_ids
    ]
    inserted = _sql(
        session,
        "INSERT INTO notification_deliveries "
        "(digest_id, user_id, token_id, kind, item_count, state, created_at, updated_at) "
        "SELECT d.digest, d.user_id, d.token, d.kind, d.items, 'sending', :now, :now "
        "FROM unnest(CAST(:digests AS uuid[]), CAST(:users AS uuid[]), "
        "CAST(:tokens AS bigint[]), CAST(:kinds AS text[]), CAST(:items AS int[])) "
        "AS d(digest, user_id, token, kind, items) "
        "RETURNING id, digest_id, token_id",
        {
            "now": now,
            "digests": [t[0] for t in targets],
            "users": [t[1].user_id for t in targets],
            "tokens": [t[2] for t in targets],
            "kinds": [t[1].kind for t in targets],
            "items": [len(t[1].notification_ids) for t in targets],
        },
    )
    for delivery_id, digest_id, token_id in sorted(inserted):
        digest = digests[digest_id]
        content = replace(digest.content, data={**digest.content.data, "digestId": str(digest_id)})
        chunk.deliveries[delivery_id] = (digest_id, token_id)
        chunk.digests[digest_id] = digest.notification_ids
        chunk.messages.append(
            PushMessage(delivery_id=delivery_id, token=chunk.tokens[token_id], content=content)
        )
    chunk.counts["digests"] += len(digests)
    chunk.counts["pushes"] += len(inserted)


# -- 3. record ---------------------------------------------------------------------------------

_DELIVERY_STATE = {"ok": "sent", "error": "failed", "carried": "carried", "unknown": "unknown"}


def _record(chunk: _Chunk, results: Sequence[PushResult], now: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    if not chunk.messages:
        return counts
    by_digest: dict[UUID, list[PushResult]] = defaultdict(list)
    dead_tokens = []
    for message, result in zip(chunk.messages, results, strict=True):
        digest_id, token_id = chunk.deliveries[message.delivery_id]
        by_digest[digest_id].append(result)
        counts[_DELIVERY_STATE[result.outcome]] += 1
        if result.error == "DeviceNotRegistered":
            dead_tokens.append(token_id)
    sent, released, closed = [], [], []
    for digest_id, outcomes in by_digest.items():
        kinds = {r.outcome for r in outcomes}
        if "ok" in kinds:
            sent.append(digest_id)
        elif "unknown" in kinds:
            closed.append((digest_id, "delivery_unknown"))
        elif "carried" in kinds:
            released.append(digest_id)
        else:
            closed.append((digest_id, f"push_error:{outcomes[0].error}"))
    with session_scope() as session:
        _sql(
            session,
            "UPDATE notification_deliveries nd SET state = d.state, ticket_id = d.ticket, "
            "error = d.error, sent_at = CASE WHEN d.state = 'sent' THEN :now END, "
            "updated_at = :now FROM unnest(CAST(:ids AS bigint[]), "
            "CAST(:states AS text[]), CAST(:tickets AS text[]), CAST(:errors AS text[])) "
            "AS d(id, state, ticket, error) "
            "WHERE nd.id = d.id AND nd.id = ANY(:ids) AND nd.state = 'sending'",
            {
                "now": now,
                "ids": [m.delivery_id for m in chunk.messages],
                "states": [_DELIVERY_STATE[r.outcome] for r in results],
                "tickets": [r.ticket_id for r in results],
                "errors": [r.error for r in results],
            },
        )
        counts["tokens_deactivated"] = _deactivate(session, dead_tokens)
        # By id (primary key), and only rows still waiting for this push: a sweep may have
        # closed them meanwhile.
        if sent:
            _sql(
                session,
                "UPDATE notifications SET status = 'sent', sent_at = :now, status_reason = NULL "
                "WHERE id = ANY(:ids) AND status = 'pending'",
                {"now": now, "ids": [n for d in sent for n in chunk.digests[d]]},
            )
        if released:
            _sql(
                session,
                "UPDATE notifications SET digest_id = NULL, status_reason = 'carried' "
                "WHERE id = ANY(:ids) AND status = 'pending'",
                {"ids": [n for d in released for n in chunk.digests[d]]},
            )
        if closed:
            ids_reasons = [(n, reason) for d, reason in closed for n in chunk.digests[d]]
            _sql(
                session,
                "UPDATE notifications n SET status = 'dropped', status_reason = d.reason "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:reasons AS text[])) AS d(id, reason) "
                "WHERE n.id = d.id AND n.id = ANY(:ids) AND n.status = 'pending'",
                {"ids": [n for n, _ in ids_reasons], "reasons": [r for _, r in ids_reasons]},
            )
    return counts


def _deactivate(session: Session, token_ids: Iterable[int | None]) -> int:
    """Deactivate tokens Expo reported DeviceNotRegistered; returns how many changed."""
    ids = sorted({t for t in token_ids if t is not None})
    if not ids:
        return 0
    changed = _sql(
        session,
        "UPDATE push_tokens SET active = false WHERE id = ANY(:ids) AND active RETURNING id",
        {"ids": ids},
    )
    return len(changed)


def _settle_stale(now: datetime, unknown_after: timedelta) -> int:
    """Deliveries left ``sending`` by a crashed run become ``unknown``; their notifications are
    closed (``delivery_unknown``). Returns how many deliveries."""
    with session_scope() as session:
        stale = _sql(
            session,
            "UPDATE notification_deliveries SET state = 'unknown', error = 'stuck_sending', "
            "updated_at = :now WHERE state = 'sending' AND created_at < :cutoff "
            "RETURNING id, digest_id",
            {"now": now, "cutoff": now - unknown_after},
        )
        if stale:
            _sql(
                session,
                "UPDATE notifications SET status = 'dropped', "
                "status_reason = 'delivery_unknown' "
                "WHERE digest_id = ANY(:digests) AND status = 'pending'",
                {"digests": sorted({d for _, d in stale})},
            )
            log.warning(
                "notifications: deliveries %s stuck in sending; marked unknown",
                [i for i, _ in stale][:50],
            )
    return len(stale)


# -- receipts ----------------------------------------------------------------------------------


def poll_receipts(
    provider: PushProvider,
    *,
    clock: Clock = utcnow,
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
        with session_scope() as session:
            page = _sql(
                session,
                "SELECT id, ticket_id, token_id, sent_at FROM notification_deliveries "
                "WHERE state = 'sent' AND receipt_status IS NULL AND sent_at <= :ready "
                "AND id > :after ORDER BY id LIMIT :page",
                {"ready": now - RECEIPT_DELAY, "after": after, "page": RECEIPTS_PAGE},
            )
        if not page:
            break
        after = page[-1].id
        counts["checked"] += len(page)
        receipts = provider.get_receipts([row.ticket_id for row in page])
        updates: list[tuple[int, str, str | None]] = []
        dead_tokens = []
        for row in page:
            receipt = receipts.get(row.ticket_id)
            if receipt is not None:
                updates.append((row.id, receipt.status, receipt.error))
                counts["ok" if receipt.status == "ok" else "errors"] += 1
                if receipt.error == "DeviceNotRegistered":
                    dead_tokens.append(row.token_id)
            elif row.sent_at <= now - RECEIPT_RETENTION:
                updates.append((row.id, "expired", None))
                counts["expired"] += 1
            else:
                counts["not_ready"] += 1
        with session_scope() as session:
            if updates:
                _sql(
                    session,
                    "UPDATE notification_deliveries nd SET receipt_status = d.status, "
                    "receipt_error = d.error, receipt_checked_at = :now, updated_at = :now "
                    "FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), "
                    "CAST(:errors AS text[])) AS d(id, status, error) "
                    "WHERE nd.id = d.id AND nd.id = ANY(:ids) AND nd.receipt_status IS NULL",
                    {
                        "now": now,
                        "ids": [u[0] for u in updates],
                        "statuses": [u[1] for u in updates],
                        "errors": [u[2] for u in updates],
                    },
                )
            counts["tokens_deactivated"] += _deactivate(session, dead_tokens)
        if len(page) < RECEIPTS_PAGE:
            break
    keys = ("checked", "ok", "errors", "expired", "not_ready", "tokens_deactivated")
    return {key: counts[key] for key in keys}
