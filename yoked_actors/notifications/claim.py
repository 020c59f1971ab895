"""Step 1 of a batching run: claim a chunk of notifications, plan them, write the plans.

In one transaction (:func:`claim_chunk`): the oldest claimable notifications are locked
(``SKIP LOCKED``), then their users and all those users' claimable rows; a user some of whose
rows another claimer holds is left for a later chunk, so two concurrent runs never take the same
row nor split one user's rows into two pushes. Each user's rows are planned by
:func:`yoked_actors.notifications.digest.plan_user`; dropped and deferred rows are closed with
their reason, the rest get their digest's ``digest_id`` and one ``sending`` delivery per active
token. The caller sends the chunk's messages after the commit. See :mod:`.batching` for the whole
run and docs/notifications.md for the states.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.orm import Session

from yoked_actors.db import session_scope
from yoked_actors.notifications import store
from yoked_actors.notifications.digest import (
    Digest,
    PendingNotification,
    Recipient,
    UserPlan,
    plan_user,
)
from yoked_actors.notifications.push import PushMessage
from yoked_actors.notifications.quiet_hours import local_day

#: How far back a user's digests are read to count those of their current local day.
RECENT_DIGESTS = timedelta(hours=48)


@dataclass
class Chunk:
    """What one claim transaction produced: its messages, and what to record them against."""

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


def claim_chunk(now: datetime, rows: int, max_per_day: int, pushed: set[UUID]) -> Chunk:
    """Claim the oldest claimable rows, their users, and all those users' claimable rows; plan
    them and write the plans, in one transaction.

    ``rows`` is how many seed rows are taken; users in ``pushed`` (who had this run's digest) are
    left alone, and those who get a digest now are added to it. Rows and users are locked with
    ``SKIP LOCKED``, so concurrent claimers take disjoint sets.
    A user some of whose claimable rows another claimer holds right now (its seed caught them)
    is left alone this time, so that one user's rows are never split into two pushes.
    """
    chunk = Chunk()
    with session_scope() as session:
        seeds = store.claim_seed_users(session, now, rows)
        chunk.exhausted = len(seeds) < rows
        users = sorted(set(seeds) - pushed)
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
        by_user = _whole_users(session, list(recipients), now, chunk)
        plans = {
            user_id: plan_user(user_rows, recipients.get(user_id), now, max_per_day=max_per_day)
            for user_id, user_rows in by_user.items()
        }
        chunk.counts["claimed"] = sum(len(user_rows) for user_rows in by_user.values())
        _write_plans(session, plans, now, chunk)
        pushed.update(user_id for user_id, plan in plans.items() if plan.digest)
    return chunk


def _lock_recipients(
    session: Session, users: list[UUID], now: datetime, token_values: dict[int, str]
) -> dict[UUID, Recipient]:
    """Lock the users no other claimer is working on and load what their plans need; their
    active tokens' values go into ``token_values`` (to address the pushes, never stored)."""
    locked = store.lock_users(session, users)
    if not locked:
        return {}
    ids = [u.id for u in locked]
    tokens: dict[UUID, list[int]] = defaultdict(list)
    for user_id, token_id, token in store.active_tokens(session, ids):
        tokens[user_id].append(token_id)
        token_values[token_id] = token
    blocked: dict[UUID, set[str]] = defaultdict(set)
    for blocker, blocked_id in store.blocks(session, ids):
        blocked[blocker].add(blocked_id)
    recent: dict[UUID, list[datetime]] = defaultdict(list)
    for user_id, first_at in store.recent_digest_starts(session, ids, now - RECENT_DIGESTS):
        recent[user_id].append(first_at)
    return {
        user.id: _recipient(user, tokens[user.id], blocked[user.id], recent[user.id], now)
        for user in locked
    }


def _recipient(
    user: Any, token_ids: list[int], blocked: set[str], digests_at: list[datetime], now: datetime
) -> Recipient:
    """What the plan needs to know about a locked user (a row of :func:`store.lock_users`)."""
    today = local_day(now, user.timezone)
    return Recipient(
        user_id=user.id,
        active=bool(user.active),
        suspended=bool(user.suspended),
        timezone=user.timezone,
        quiet_hours_start=user.quiet_hours_start,
        quiet_hours_end=user.quiet_hours_end,
        token_ids=tuple(token_ids),
        blocked=frozenset(blocked),
        digests_today=sum(1 for at in digests_at if local_day(at, user.timezone) == today),
    )


def _whole_users(
    session: Session, users: list[UUID], now: datetime, chunk: Chunk
) -> dict[UUID, list[PendingNotification]]:
    """The users' claimable rows, locked, by user; a user some of whose claimable rows another
    claimer holds is left out (their rows go together in a later chunk)."""
    by_user: dict[UUID, list[PendingNotification]] = defaultdict(list)
    for row in store.claim_rows(session, users, now):
        by_user[row.user_id].append(row)
    for user_id, count in store.claimable_counts(session, list(by_user), now):
        if count != len(by_user[user_id]):
            del by_user[user_id]  # straddled
            chunk.contended = True
    if chunk.contended:
        chunk.exhausted = False
    return by_user


def _write_plans(
    session: Session, plans: dict[UUID, UserPlan], now: datetime, chunk: Chunk
) -> None:
    """Close the dropped rows, defer the deferred ones, and start each digest's deliveries."""
    dropped = [d for plan in plans.values() for d in plan.dropped]
    deferred = [d for plan in plans.values() for d in plan.deferred]
    if dropped:
        store.drop(session, dropped)
    if deferred:
        store.defer(session, deferred)
    chunk.counts["dropped"] += len(dropped)
    chunk.counts["deferred"] += len(deferred)
    digests = {uuid.uuid4(): plan.digest for plan in plans.values() if plan.digest}
    if digests:
        _start_digests(session, digests, now, chunk)


def _start_digests(
    session: Session, digests: dict[UUID, Digest], now: datetime, chunk: Chunk
) -> None:
    """Give the digests' rows their ``digest_id``, write one ``sending`` delivery per token,
    and add a message per delivery to ``chunk``."""
    claimed = [(n, digest_id) for digest_id, d in digests.items() for n in d.notification_ids]
    store.assign_digests(session, claimed)
    targets = [
        (digest_id, d.user_id, token_id, d.kind, len(d.notification_ids))
        for digest_id, d in digests.items()
        for token_id in d.token_ids
    ]
    inserted = store.insert_deliveries(session, now, targets)
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
