"""Digest planning and quiet hours: pure functions, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from yoked_actors.notifications.digest import (
    PendingNotification,
    Recipient,
    compose,
    plan_user,
)
from yoked_actors.notifications.quiet_hours import next_local_midnight, quiet_until

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
USER = uuid.uuid4()


def row(kind: str, n: int = 1, **payload: Any) -> PendingNotification:
    return PendingNotification(
        id=n, user_id=USER, kind=kind, payload=payload, created_at=NOW - timedelta(minutes=n)
    )


def recipient(**overrides: Any) -> Recipient:
    values: dict[str, Any] = dict(
        user_id=USER,
        active=True,
        timezone="UTC",
        quiet_hours_start=22,
        quiet_hours_end=8,
        token_ids=(1,),
    )
    values.update(overrides)
    return Recipient(**values)


@pytest.mark.parametrize(
    ("rows", "title", "body", "url"),
    [
        (
            [row("offer_accepted", offer_id=5)],
            "It's a match!",
            "Say hi and plan your first session.",
            "yoked://matches/5",
        ),
        (
            [row("offer_accepted", 1, offer_id=5), row("offer_accepted", 2, offer_id=6)],
            "It's a match!",
            "Say hi and plan your first session.",
            "yoked://matches",
        ),
        (
            [row("daily_matches", count=3)],
            "Your 3 new workout partners",
            "Today's picks are ready. Take a look!",
            "yoked://matches/today",
        ),
        (
            [row("daily_matches", offers=2, local_date="2026-03-10")],  # as matching writes it
            "Your 2 new workout partners",
            "Today's picks are ready. Take a look!",
            "yoked://matches/today",
        ),
        (
            [row("daily_matches", offer_ids=[1])],
            "Your new workout partner",
            "Today's picks are ready. Take a look!",
            "yoked://matches/today",
        ),
        (
            [
                row("new_message", 1, sender_id="a", match_offer_id=3),
                row("new_message", 2, sender_id="b", match_offer_id=4),
                row("new_message", 3, senderId="a", match_offer_id=3),
            ],
            "3 messages from 2 partners",
            "Open Yoked to reply.",
            "yoked://chats",
        ),
        (
            [row("new_message", match_offer_id=3)],
            "1 message from a partner",
            "Open Yoked to reply.",
            "yoked://chats/3",
        ),
        (
            [
                row("daily_matches", 1, count=2),
                row("new_message", 2, sender_id="a"),
                row("safety", 3),
            ],
            "Account notice",
            "An update about your account · 1 message from a partner · 2 new workout partners",
            "yoked://safety",
        ),
        (
            [row("streak_reminder")],
            "Something new on Yoked",
            "Open Yoked to see what's new.",
            "yoked://notifications",
        ),
    ],
)
def test_a_digest_takes_title_and_link_from_the_highest_priority_kind(
    rows: list[PendingNotification], title: str, body: str, url: str
) -> None:
    _, content = compose(rows)
    assert (content.title, content.body, content.data["url"]) == (title, body, url)


def test_pushes_never_quote_a_payload() -> None:
    _, content = compose([row("new_message", sender_id="a", text="secret words")])
    assert "secret" not in repr(content)


@pytest.mark.parametrize(
    ("now", "timezone", "start", "end", "expected"),
    [
        # 22-8 spans midnight: evening side ends tomorrow, morning side ends today.
        (
            datetime(2026, 3, 10, 22, 30, tzinfo=UTC),
            "UTC",
            22,
            8,
            datetime(2026, 3, 11, 8, 0, tzinfo=UTC),
        ),
        (
            datetime(2026, 3, 11, 7, 59, tzinfo=UTC),
            "UTC",
            22,
            8,
            datetime(2026, 3, 11, 8, 0, tzinfo=UTC),
        ),
        (datetime(2026, 3, 11, 8, 0, tzinfo=UTC), "UTC", 22, 8, None),
        (datetime(2026, 3, 10, 21, 59, tzinfo=UTC), "UTC", 22, 8, None),
        # The user's date differs from UTC's: 01:00 UTC on the 11th is 20:00 on the 10th in
        # Chicago (CDT after March 8): not quiet; 04:00 UTC is 23:00 local, quiet until 08:00.
        (datetime(2026, 3, 11, 1, 0, tzinfo=UTC), "America/Chicago", 22, 8, None),
        (
            datetime(2026, 3, 11, 4, 0, tzinfo=UTC),
            "America/Chicago",
            22,
            8,
            datetime(2026, 3, 11, 13, 0, tzinfo=UTC),
        ),
        # Kathmandu is +05:45.
        (
            datetime(2026, 3, 10, 20, 0, tzinfo=UTC),
            "Asia/Kathmandu",
            22,
            8,
            datetime(2026, 3, 11, 2, 15, tzinfo=UTC),
        ),
        # A window inside one day, and none at all.
        (
            datetime(2026, 3, 10, 14, 0, tzinfo=UTC),
            "UTC",
            13,
            15,
            datetime(2026, 3, 10, 15, 0, tzinfo=UTC),
        ),
        (datetime(2026, 3, 10, 3, 0, tzinfo=UTC), "UTC", 0, 0, None),
        # Quiet through the night DST starts in New York (March 8, 2026): 08:00 is EDT.
        (
            datetime(2026, 3, 8, 5, 0, tzinfo=UTC),
            "America/New_York",
            22,
            8,
            datetime(2026, 3, 8, 12, 0, tzinfo=UTC),
        ),
        # An unknown zone is read as UTC.
        (
            datetime(2026, 3, 10, 23, 0, tzinfo=UTC),
            "Mars/Olympus",
            22,
            8,
            datetime(2026, 3, 11, 8, 0, tzinfo=UTC),
        ),
    ],
)
def test_quiet_hours_end_in_the_users_own_timezone(
    now: datetime, timezone: str, start: int, end: int, expected: datetime | None
) -> None:
    assert quiet_until(now, timezone, start, end) == expected


def test_next_local_midnight_follows_the_users_calendar() -> None:
    assert next_local_midnight(datetime(2026, 7, 1, 3, 0, tzinfo=UTC), "America/Los_Angeles") == (
        datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    )


def test_plan_order_inactive_then_stale_and_blocked_then_quiet_then_cap_then_tokens() -> None:
    rows = [row("new_message", 1, sender_id="pest"), row("daily_matches", 2)]
    assert plan_user(rows, recipient(active=False), NOW, max_per_day=5).dropped == [
        (1, "user_inactive"),
        (2, "user_inactive"),
    ]

    suspended = recipient(active=False, suspended=True)
    plan = plan_user([*rows, row("safety", 3)], suspended, NOW, max_per_day=5)
    assert plan.dropped == [(1, "user_inactive"), (2, "user_inactive")]
    assert plan.digest is not None and plan.digest.notification_ids == (3,)

    plan = plan_user(rows, recipient(blocked=frozenset({"pest"})), NOW, max_per_day=5)
    assert plan.dropped == [(1, "sender_blocked")]
    assert plan.digest is not None and plan.digest.notification_ids == (2,)

    night = NOW.replace(hour=23)
    plan = plan_user(rows, recipient(token_ids=()), night, max_per_day=5)
    assert {reason for _, _, reason in plan.deferred} == {"quiet_hours"}

    plan = plan_user(rows, recipient(digests_today=5), NOW, max_per_day=5)
    assert {(at, reason) for _, at, reason in plan.deferred} == {
        (datetime(2026, 3, 11, 8, 0, tzinfo=UTC), "daily_cap")
    }

    plan = plan_user(rows, recipient(token_ids=()), NOW, max_per_day=5)
    assert plan.dropped == [(1, "no_active_token"), (2, "no_active_token")]
