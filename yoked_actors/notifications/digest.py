"""Deciding what a user's pending notifications become: dropped, deferred, or one digest push.

Pure functions over plain values; :mod:`yoked_actors.notifications.claim` feeds them rows and
writes their decisions. One user, one run: every row is dropped (with a reason), deferred (with a
time and a reason) or folded into the user's single digest.

Kinds, in priority order (the first present gives the title and the deep link):

==================  =====================================  ===========================
kind                headline                               deep link (``data.url``)
==================  =====================================  ===========================
``safety``          "Account notice"                       ``yoked://safety``
``offer_accepted``  "It's a match!"                        ``yoked://matches/<offer>``
``new_message``     "3 messages from 2 partners"           ``yoked://chats/<offer>``
``daily_matches``   "Your 3 new workout partners"          ``yoked://matches/today``
anything else       "Something new on Yoked"               ``yoked://notifications``
==================  =====================================  ===========================

Payload keys read (all optional): a sender as ``sender_id`` / ``senderId`` / ``from`` (blocked
senders are dropped, distinct senders counted), a conversation or offer as ``match_offer_id`` /
``offer_id`` (camelCase accepted), and for ``daily_matches`` a ``count`` or ``offers`` number
(what matching writes) or an ``offer_ids`` list.
Push text never quotes a message or names anyone: counts only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from yoked_actors.notifications.quiet_hours import next_allowed, next_local_midnight, quiet_until

#: A notification not delivered within this long is stale and dropped.
MAX_AGE = timedelta(hours=24)
#: Kinds by priority, highest first.
PRIORITY = ("safety", "offer_accepted", "new_message", "daily_matches")
#: Kinds worth waking a phone for (Expo ``priority: high``).
URGENT = frozenset({"safety", "offer_accepted", "new_message"})
DEEP_LINK = "yoked://"

SENDER_KEYS = ("sender_id", "senderId", "from")
OFFER_KEYS = ("match_offer_id", "matchOfferId", "offer_id", "offerId")


@dataclass(frozen=True)
class PendingNotification:
    """A claimed ``notifications`` row."""

    id: int
    user_id: UUID
    kind: str
    payload: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Recipient:
    """What the plan needs to know about the user a notification is for."""

    user_id: UUID
    #: ``status = 'active'`` and not deleted.
    active: bool
    timezone: str
    quiet_hours_start: int
    quiet_hours_end: int
    #: ``push_tokens.id`` of the user's active tokens.
    token_ids: tuple[int, ...] = ()
    #: Ids (as strings) of the users this recipient has blocked.
    blocked: frozenset[str] = frozenset()
    #: Digests already sent on the user's current local day.
    digests_today: int = 0
    #: ``status = 'suspended'`` and not deleted: only ``safety`` notices still reach them.
    suspended: bool = False


@dataclass(frozen=True)
class Content:
    """The user-visible part of a push (identical for each of the user's devices)."""

    title: str
    body: str
    data: dict[str, Any]
    priority: str


@dataclass(frozen=True)
class Digest:
    """One push for one user, to each of their active tokens."""

    user_id: UUID
    notification_ids: tuple[int, ...]
    #: The highest-priority kind present.
    kind: str
    content: Content
    token_ids: tuple[int, ...]


@dataclass
class UserPlan:
    """What becomes of one user's claimed rows in this run."""

    dropped: list[tuple[int, str]] = field(default_factory=list)
    deferred: list[tuple[int, datetime, str]] = field(default_factory=list)
    digest: Digest | None = None


def _first(payload: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = payload.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def sender_of(payload: Mapping[str, Any]) -> str | None:
    """The id of the user a notification is from, if its payload names one."""
    return _first(payload, SENDER_KEYS)


def _rank(kind: str) -> int:
    return PRIORITY.index(kind) if kind in PRIORITY else len(PRIORITY)


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many.format(n=n)


def _partner_count(rows: Sequence[PendingNotification]) -> int:
    senders = {sender_of(r.payload) or f"row:{r.id}" for r in rows}
    return len(senders)


def _match_count(rows: Sequence[PendingNotification]) -> int:
    total = 0
    for row in rows:
        count = row.payload.get("count", row.payload.get("offers"))
        offers = row.payload.get("offer_ids") or row.payload.get("offerIds")
        if isinstance(count, int) and count > 0:
            total += count
        elif isinstance(count, list) and count:
            total += len(count)
        elif isinstance(offers, list) and offers:
            total += len(offers)
        else:
            total += 1
    return total


def _single_offer(rows: Sequence[PendingNotification]) -> str | None:
    offers = {_first(r.payload, OFFER_KEYS) for r in rows}
    return offers.pop() if len(offers) == 1 else None


def _describe(kind: str, rows: Sequence[PendingNotification]) -> tuple[str, str, str, str]:
    """(headline, summary, call to action, deep link) for the rows of one kind."""
    n = len(rows)
    if kind == "safety":
        return (
            "Account notice",
            "An update about your account",
            "Tap to review.",
            f"{DEEP_LINK}safety",
        )
    if kind == "offer_accepted":
        offer = _single_offer(rows)
        return (
            "It's a match!",
            _plural(n, "A partner said yes", "{n} partners said yes"),
            "Say hi and plan your first session.",
            f"{DEEP_LINK}matches/{offer}" if offer else f"{DEEP_LINK}matches",
        )
    if kind == "new_message":
        partners = _partner_count(rows)
        text = _plural(n, "1 message", "{n} messages") + _plural(
            partners, " from a partner", " from {n} partners"
        )
        offer = _single_offer(rows)
        return (
            text,
            text,
            "Open Yoked to reply.",
            f"{DEEP_LINK}chats/{offer}" if offer else f"{DEEP_LINK}chats",
        )
    if kind == "daily_matches":
        matches = _match_count(rows)
        return (
            _plural(matches, "Your new workout partner", "Your {n} new workout partners"),
            _plural(matches, "1 new workout partner", "{n} new workout partners"),
            "Today's picks are ready. Take a look!",
            f"{DEEP_LINK}matches/today",
        )
    return (
        "Something new on Yoked",
        _plural(n, "1 update", "{n} updates"),
        "Open Yoked to see what's new.",
        f"{DEEP_LINK}notifications",
    )


def compose(rows: Sequence[PendingNotification]) -> tuple[str, Content]:
    """The headline kind and the push content for one user's rows (at least one).

    Title and deep link come from the highest-priority kind; the body summarises every kind
    present in priority order, or, for a single kind, is that kind's call to action.
    """
    by_kind: dict[str, list[PendingNotification]] = {}
    for row in sorted(rows, key=lambda r: (_rank(r.kind), r.created_at, r.id)):
        by_kind.setdefault(row.kind, []).append(row)
    kinds = list(by_kind)
    described = [_describe(kind, by_kind[kind]) for kind in kinds]
    title, _, action, url = described[0]
    body = action if len(kinds) == 1 else " · ".join(d[1] for d in described)
    top = kinds[0]
    data = {
        "url": url,
        "kinds": dict(Counter(r.kind for r in rows)),
    }
    return top, Content(
        title=title, body=body, data=data, priority="high" if top in URGENT else "default"
    )


def plan_user(
    rows: Sequence[PendingNotification],
    recipient: Recipient | None,
    now: datetime,
    *,
    max_per_day: int,
) -> UserPlan:
    """Decide one user's claimed rows.

    In order: rows for a missing, deleted or deactivated user, and rows other than ``safety``
    for a suspended one (the notice of their suspension still goes out), are dropped
    (``user_inactive``);
    rows older than :data:`MAX_AGE` (``expired``) or from a sender the user blocked
    (``sender_blocked``) are dropped; inside quiet hours the rest is deferred to their end
    (``quiet_hours``); past ``max_per_day`` digests on the local day, to the next allowed time of
    the next local day (``daily_cap``); without an active token it is dropped
    (``no_active_token``); otherwise it becomes one digest.
    """
    plan = UserPlan()
    if recipient is None or not (recipient.active or recipient.suspended):
        plan.dropped = [(r.id, "user_inactive") for r in rows]
        return plan
    live: list[PendingNotification] = []
    for row in rows:
        if recipient.suspended and row.kind != "safety":
            plan.dropped.append((row.id, "user_inactive"))
        elif now - row.created_at > MAX_AGE:
            plan.dropped.append((row.id, "expired"))
        elif (sender_of(row.payload) or "") in recipient.blocked:
            plan.dropped.append((row.id, "sender_blocked"))
        else:
            live.append(row)
    if not live:
        return plan
    zone = (recipient.timezone, recipient.quiet_hours_start, recipient.quiet_hours_end)
    until = quiet_until(now, *zone)
    if until is not None:
        plan.deferred = [(r.id, until, "quiet_hours") for r in live]
        return plan
    if recipient.digests_today >= max_per_day:
        tomorrow = next_allowed(next_local_midnight(now, recipient.timezone), *zone)
        plan.deferred = [(r.id, tomorrow, "daily_cap") for r in live]
        return plan
    if not recipient.token_ids:
        plan.dropped.extend((r.id, "no_active_token") for r in live)
        return plan
    kind, content = compose(live)
    plan.digest = Digest(
        user_id=recipient.user_id,
        notification_ids=tuple(sorted(r.id for r in live)),
        kind=kind,
        content=content,
        token_ids=recipient.token_ids,
    )
    return plan
