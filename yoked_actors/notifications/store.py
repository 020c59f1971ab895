"""Notifications' SQL: claim, plan, record deliveries, settle stale ones, record receipts.

Every statement runs through :func:`yoked_actors.sql.execute_binary`: the id, uuid and time
arrays of these set-based statements (``unnest`` of arrays) dump faster with binary parameters
than as text, with no quoting. Functions take the caller's session and never begin, commit or
roll back: :mod:`.batching` and :mod:`.receipts` own the transactions (claim, record and settle
are one transaction each). Locks: claimed rows are taken ``FOR UPDATE SKIP LOCKED`` and their
users ``FOR NO KEY UPDATE SKIP LOCKED`` (the API's inserts of notifications do not wait for
that), so concurrent claimers take disjoint sets. Writes to rows a later step may have closed
meanwhile touch only rows still in the state the step expects. docs/notifications.md describes
the tables and states.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.orm import Session

from yoked_actors.notifications.digest import PendingNotification
from yoked_actors.sql import execute_binary

#: A notification is claimable when it is in no digest yet and pending, or deferred and due.
_CLAIMABLE = (
    "n.digest_id IS NULL AND (n.status = 'pending' "
    "OR (n.status = 'deferred' AND n.deliver_after <= :now))"
)

# -- claim -------------------------------------------------------------------------------------


def claim_seed_users(session: Session, now: datetime, rows: int) -> list[UUID]:
    """Lock the ``rows`` oldest claimable notifications; their users (one entry per row)."""
    seeds = execute_binary(
        session,
        f"SELECT n.user_id FROM notifications n WHERE {_CLAIMABLE} "
        "ORDER BY n.created_at LIMIT :rows FOR UPDATE SKIP LOCKED",
        {"now": now, "rows": rows},
    )
    return [seed[0] for seed in seeds]


def lock_users(session: Session, users: list[UUID]) -> list[Any]:
    """Lock the users no other claimer holds, in id order: rows of (id, active, suspended,
    timezone, quiet_hours_start, quiet_hours_end)."""
    return execute_binary(
        session,
        "SELECT id, status = 'active' AND deleted_at IS NULL AS active, "
        "status = 'suspended' AND deleted_at IS NULL AS suspended, timezone, "
        "quiet_hours_start, quiet_hours_end FROM users WHERE id = ANY(:users) "
        "ORDER BY id FOR NO KEY UPDATE SKIP LOCKED",
        {"users": users},
    )


def active_tokens(session: Session, users: list[UUID]) -> list[Any]:
    """The users' active push tokens, by id: rows of (user_id, id, token)."""
    return execute_binary(
        session,
        "SELECT user_id, id, token FROM push_tokens WHERE user_id = ANY(:users) AND active "
        "ORDER BY id",
        {"users": users},
    )


def blocks(session: Session, users: list[UUID]) -> list[Any]:
    """Who the users have blocked: rows of (blocker_id, blocked_id as text)."""
    return execute_binary(
        session,
        "SELECT blocker_id, blocked_id::text FROM blocks WHERE blocker_id = ANY(:users)",
        {"users": users},
    )


def recent_digest_starts(session: Session, users: list[UUID], since: datetime) -> list[Any]:
    """When each digest (sending, sent or unknown) created after ``since`` for the users was
    first written: rows of (user_id, first created_at), one per digest."""
    return execute_binary(
        session,
        "SELECT user_id, min(created_at) FROM notification_deliveries "
        "WHERE user_id = ANY(:users) AND created_at > :since "
        "AND state IN ('sending', 'sent', 'unknown') GROUP BY user_id, digest_id",
        {"users": users, "since": since},
    )


def claim_rows(session: Session, users: list[UUID], now: datetime) -> list[PendingNotification]:
    """Lock the users' claimable notifications that no other claimer holds."""
    return [
        PendingNotification(
            id=r.id,
            user_id=r.user_id,
            kind=r.kind,
            payload=r.payload or {},
            created_at=r.created_at,
        )
        for r in execute_binary(
            session,
            f"SELECT n.id, n.user_id, n.kind, n.payload, n.created_at "
            f"FROM notifications n WHERE n.user_id = ANY(:users) AND {_CLAIMABLE} "
            "FOR UPDATE SKIP LOCKED",
            {"users": users, "now": now},
        )
    ]


def claimable_counts(session: Session, users: list[UUID], now: datetime) -> list[Any]:
    """How many claimable notifications each user has, locked or not: rows of (user_id, n)."""
    return execute_binary(
        session,
        f"SELECT n.user_id, count(*) AS n FROM notifications n "
        f"WHERE n.user_id = ANY(:users) AND {_CLAIMABLE} GROUP BY n.user_id",
        {"users": users, "now": now},
    )


# -- plan --------------------------------------------------------------------------------------


def drop(session: Session, dropped: Sequence[tuple[int, str]]) -> None:
    """Close claimed notifications: ``dropped`` is (id, reason) pairs."""
    execute_binary(
        session,
        "UPDATE notifications n SET status = 'dropped', status_reason = d.reason "
        "FROM unnest(CAST(:ids AS bigint[]), CAST(:reasons AS text[])) AS d(id, reason) "
        "WHERE n.id = d.id AND n.id = ANY(:ids)",
        {"ids": [i for i, _ in dropped], "reasons": [r for _, r in dropped]},
    )


def defer(session: Session, deferred: Sequence[tuple[int, datetime, str]]) -> None:
    """Put claimed notifications off: ``deferred`` is (id, deliver after, reason) triples."""
    execute_binary(
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


def assign_digests(session: Session, claimed: Sequence[tuple[int, UUID]]) -> None:
    """Mark claimed notifications as part of a digest: ``claimed`` is (id, digest id) pairs."""
    execute_binary(
        session,
        "UPDATE notifications n SET status = 'pending', digest_id = d.digest "
        "FROM unnest(CAST(:ids AS bigint[]), CAST(:digests AS uuid[])) AS d(id, digest) "
        "WHERE n.id = d.id AND n.id = ANY(:ids)",
        {"ids": [n for n, _ in claimed], "digests": [d for _, d in claimed]},
    )


def insert_deliveries(
    session: Session, now: datetime, targets: Sequence[tuple[UUID, UUID, int, str, int]]
) -> list[Any]:
    """One ``sending`` delivery per target (digest id, user id, token id, kind, item count);
    rows of (id, digest_id, token_id) for those written."""
    return execute_binary(
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
            "users": [t[1] for t in targets],
            "tokens": [t[2] for t in targets],
            "kinds": [t[3] for t in targets],
            "items": [t[4] for t in targets],
        },
    )


# -- record ------------------------------------------------------------------------------------


def record_deliveries(
    session: Session,
    now: datetime,
    ids: Sequence[int],
    states: Sequence[str],
    tickets: Sequence[str | None],
    errors: Sequence[str | None],
) -> None:
    """Write each delivery's outcome (state, ticket, error), only on rows still ``sending``."""
    execute_binary(
        session,
        "UPDATE notification_deliveries nd SET state = d.state, ticket_id = d.ticket, "
        "error = d.error, sent_at = CASE WHEN d.state = 'sent' THEN :now END, "
        "updated_at = :now FROM unnest(CAST(:ids AS bigint[]), "
        "CAST(:states AS text[]), CAST(:tickets AS text[]), CAST(:errors AS text[])) "
        "AS d(id, state, ticket, error) "
        "WHERE nd.id = d.id AND nd.id = ANY(:ids) AND nd.state = 'sending'",
        {
            "now": now,
            "ids": list(ids),
            "states": list(states),
            "tickets": list(tickets),
            "errors": list(errors),
        },
    )


def deactivate_tokens(session: Session, token_ids: Iterable[int | None]) -> int:
    """Deactivate the tokens (None entries ignored); returns how many changed."""
    ids = sorted({t for t in token_ids if t is not None})
    if not ids:
        return 0
    changed = execute_binary(
        session,
        "UPDATE push_tokens SET active = false WHERE id = ANY(:ids) AND active RETURNING id",
        {"ids": ids},
    )
    return len(changed)


# By id (primary key), and only rows still waiting for this push: a sweep may have closed them
# meanwhile.


def mark_sent(session: Session, ids: Sequence[int], now: datetime) -> None:
    """The notifications were pushed at ``now``."""
    execute_binary(
        session,
        "UPDATE notifications SET status = 'sent', sent_at = :now, status_reason = NULL "
        "WHERE id = ANY(:ids) AND status = 'pending'",
        {"now": now, "ids": list(ids)},
    )


def release(session: Session, ids: Sequence[int]) -> None:
    """The notifications were not sent: claimable again by the next run (``carried``)."""
    execute_binary(
        session,
        "UPDATE notifications SET digest_id = NULL, status_reason = 'carried' "
        "WHERE id = ANY(:ids) AND status = 'pending'",
        {"ids": list(ids)},
    )


def drop_pending(session: Session, closed: Sequence[tuple[int, str]]) -> None:
    """Close notifications still waiting for their push: ``closed`` is (id, reason) pairs."""
    execute_binary(
        session,
        "UPDATE notifications n SET status = 'dropped', status_reason = d.reason "
        "FROM unnest(CAST(:ids AS bigint[]), CAST(:reasons AS text[])) AS d(id, reason) "
        "WHERE n.id = d.id AND n.id = ANY(:ids) AND n.status = 'pending'",
        {"ids": [n for n, _ in closed], "reasons": [r for _, r in closed]},
    )


# -- settle ------------------------------------------------------------------------------------


def mark_stuck_unknown(session: Session, now: datetime, cutoff: datetime) -> list[Any]:
    """Deliveries still ``sending`` that were written before ``cutoff`` become ``unknown``
    (``stuck_sending``); rows of (id, digest_id)."""
    return execute_binary(
        session,
        "UPDATE notification_deliveries SET state = 'unknown', error = 'stuck_sending', "
        "updated_at = :now WHERE state = 'sending' AND created_at < :cutoff "
        "RETURNING id, digest_id",
        {"now": now, "cutoff": cutoff},
    )


def drop_unknown_digests(session: Session, digests: Sequence[UUID]) -> None:
    """Close the digests' notifications still pending (``delivery_unknown``)."""
    execute_binary(
        session,
        "UPDATE notifications SET status = 'dropped', "
        "status_reason = 'delivery_unknown' "
        "WHERE digest_id = ANY(:digests) AND status = 'pending'",
        {"digests": list(digests)},
    )


# -- receipts ----------------------------------------------------------------------------------


def awaiting_receipts(session: Session, ready: datetime, after: int, limit: int) -> list[Any]:
    """Up to ``limit`` sent deliveries without a receipt, sent at or before ``ready``, with ids
    above ``after``, by id: rows of (id, ticket_id, token_id, sent_at)."""
    return execute_binary(
        session,
        "SELECT id, ticket_id, token_id, sent_at FROM notification_deliveries "
        "WHERE state = 'sent' AND receipt_status IS NULL AND sent_at <= :ready "
        "AND id > :after ORDER BY id LIMIT :page",
        {"ready": ready, "after": after, "page": limit},
    )


def record_receipts(
    session: Session, now: datetime, updates: Sequence[tuple[int, str, str | None]]
) -> None:
    """Write receipts: ``updates`` is (delivery id, receipt status, receipt error) triples; rows
    that already have one are left alone."""
    execute_binary(
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
