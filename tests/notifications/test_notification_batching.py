"""notifications.send_batches against real PostgreSQL and the fake Expo server over real HTTP."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fake_expo import FakeExpo, Fault
from notify_support import Clock, Rows, push_settings

from yoked_actors.notifications.batching import BatchOptions, send_batches
from yoked_actors.notifications.expo import ExpoPushClient
from yoked_actors.notifications.push import PushMessage, PushResult


def run(provider: Any, clock: Clock, **options: Any) -> dict[str, int]:
    return send_batches(provider, clock=clock, options=BatchOptions(**options))


def test_a_users_pending_rows_become_one_push_per_device_with_a_deep_link(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    alice = rows.user(tokens=2)
    bob, carol = rows.user(), rows.user()
    ids = [
        rows.notify(alice, "new_message", sender_id=str(bob), match_offer_id=7),
        rows.notify(alice, "new_message", sender_id=str(bob), match_offer_id=7),
        rows.notify(alice, "new_message", sender_id=str(carol), match_offer_id=9),
        rows.notify(alice, "offer_accepted", offer_id=41),
    ]

    summary = run(expo, clock)

    assert summary["digests"] == 1 and summary["pushes"] == 2 and summary["sent"] == 2
    received = fake_expo.accepted
    assert sorted(m["to"] for m in received) == sorted(rows.tokens(alice))
    push = received[0]
    assert push["title"] == "It's a match!"
    assert push["body"] == "A partner said yes · 3 messages from 2 partners"
    assert push["data"]["url"] == "yoked://matches/41"
    assert push["data"]["kinds"] == {"new_message": 3, "offer_accepted": 1}
    assert all(
        r.gzipped and r.authorization == "Bearer test-access-token"
        for r in fake_expo.send_requests()
    )
    stored = rows.notifications(alice)
    assert [n.id for n in stored] == ids
    assert {n.status for n in stored} == {"sent"} and all(n.sent_at == clock() for n in stored)
    deliveries = rows.deliveries()
    assert {d.state for d in deliveries} == {"sent"}
    assert {d.ticket_id for d in deliveries} == {m["_ticket"] for m in received}

    assert run(expo, clock)["pushes"] == 0  # a second run finds nothing to send
    assert len(fake_expo.accepted) == 2


def test_two_concurrent_runs_never_send_the_same_notification(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    users = [rows.user() for _ in range(120)]
    for user in users:
        rows.notify(user, "daily_matches", count=3)
        rows.notify(user, "new_message", sender_id=str(users[0]))
    fake_expo.latency = 0.03  # keeps each run's sends in flight while the other claims
    start = threading.Barrier(2)
    summaries: list[dict[str, int]] = []

    def one_run() -> None:
        start.wait()
        summaries.append(run(expo, clock, chunk_rows=20))

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(summaries) == 2 and all(s["digests"] > 0 for s in summaries), summaries
    tokens = fake_expo.tokens_received()
    assert len(tokens) == len(set(tokens)) == 120  # one push per user, none twice
    assert sum(s["claimed"] for s in summaries) == 240
    assert {n.status for n in rows.notifications()} == {"sent"}
    digests_per_user = Counter(d.user_id for d in rows.deliveries())
    assert set(digests_per_user.values()) == {1}


def test_quiet_hours_defer_in_each_users_timezone_across_midnight(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    clock.now = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    london = rows.user(timezone="Europe/London")  # 23:30 local: quiet since 22:00
    kolkata = rows.user(timezone="Asia/Kolkata")  # 05:00 local on the 11th: quiet until 08:00
    tokyo = rows.user(timezone="Asia/Tokyo")  # 08:30 local on the 11th: awake
    siesta = rows.user(timezone="America/New_York", quiet_hours_start=18, quiet_hours_end=20)
    for user in (london, kolkata, tokyo, siesta):  # New York: 18:30, inside 18-20
        rows.notify(user, "daily_matches", count=2)

    first = run(expo, clock)

    assert first["sent"] == 1 and first["deferred"] == 3
    assert fake_expo.tokens_received() == list(rows.tokens(tokyo))
    deferred = {n.user_id: n for n in rows.notifications() if n.status == "deferred"}
    assert deferred[london].deliver_after == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    assert deferred[kolkata].deliver_after == datetime(2026, 3, 11, 2, 30, tzinfo=UTC)
    assert deferred[siesta].deliver_after == datetime(2026, 3, 11, 0, 0, tzinfo=UTC)
    assert {n.status_reason for n in deferred.values()} == {"quiet_hours"}

    clock.now = datetime(2026, 3, 11, 2, 29, tzinfo=UTC)
    assert run(expo, clock)["sent"] == 1  # New York's window ended at 00:00 UTC
    clock.now = datetime(2026, 3, 11, 2, 31, tzinfo=UTC)
    assert run(expo, clock)["sent"] == 1  # Kolkata's 08:00
    clock.now = datetime(2026, 3, 11, 7, 59, tzinfo=UTC)
    assert run(expo, clock)["claimed"] == 0
    clock.now = datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    assert run(expo, clock)["sent"] == 1  # London's 08:00

    assert {n.status for n in rows.notifications()} == {"sent"}
    assert len(fake_expo.accepted) == 4


class CrashAfterSending:
    """Sends for real, then dies before the results are recorded (a worker killed mid-run)."""

    def __init__(self, inner: ExpoPushClient) -> None:
        self.inner = inner

    def send(
        self, messages: Sequence[PushMessage], *, deadline: float | None = None
    ) -> list[PushResult]:
        self.inner.send(messages, deadline=deadline)
        raise KeyboardInterrupt("worker killed")


def test_a_crash_after_the_http_call_and_before_the_commit_does_not_resend(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    user = rows.user()
    notification = rows.notify(user, "offer_accepted")

    with pytest.raises(KeyboardInterrupt):
        run(CrashAfterSending(expo), clock)
    assert len(fake_expo.accepted) == 1
    assert [d.state for d in rows.deliveries()] == ["sending"]

    clock.advance(minutes=5)  # the next scheduled run, and a redelivered message
    assert run(expo, clock)["pushes"] == 0
    assert run(expo, clock)["pushes"] == 0
    clock.advance(minutes=6)  # past unknown_after: reported, still not re-sent
    summary = run(expo, clock)

    assert summary["stale_unknown"] == 1 and summary["pushes"] == 0
    assert len(fake_expo.accepted) == 1
    (delivery,) = rows.deliveries()
    assert (delivery.state, delivery.error) == ("unknown", "stuck_sending")
    (stored,) = rows.notifications(user)
    assert (stored.id, stored.status, stored.status_reason) == (
        notification,
        "dropped",
        "delivery_unknown",
    )


def test_device_not_registered_in_a_ticket_deactivates_the_token(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    user = rows.user(tokens=2)
    dead, alive = sorted(rows.tokens(user))
    fake_expo.unregistered.add(dead)
    rows.notify(user, "new_message")

    summary = run(expo, clock)

    assert summary["sent"] == 1 and summary["failed"] == 1 and summary["tokens_deactivated"] == 1
    assert rows.tokens(user) == {dead: False, alive: True}
    assert sorted(d.error or "" for d in rows.deliveries()) == ["", "DeviceNotRegistered"]
    assert rows.notifications(user)[0].status == "sent"

    rows.notify(user, "new_message")
    clock.advance(minutes=5)
    run(expo, clock)
    assert fake_expo.tokens_received() == [alive, alive]  # the dead token is not tried again


def test_device_not_registered_in_a_receipt_deactivates_the_token(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    from yoked_actors.notifications.receipts import poll_receipts

    user, other = rows.user(), rows.user()
    (token,) = rows.tokens(user)
    fake_expo.unregistered_later.add(token)
    rows.notify(user, "daily_matches")
    rows.notify(other, "daily_matches")
    assert run(expo, clock)["sent"] == 2

    clock.advance(minutes=10)
    assert poll_receipts(expo, clock=clock)["checked"] == 0  # receipts are asked for at 15 min
    clock.advance(minutes=6)
    summary = poll_receipts(expo, clock=clock)

    assert summary == {
        "checked": 2,
        "ok": 1,
        "errors": 1,
        "expired": 0,
        "not_ready": 0,
        "tokens_deactivated": 1,
    }
    assert rows.tokens(user) == {token: False}
    receipts = {d.user_id: (d.receipt_status, d.receipt_error) for d in rows.deliveries()}
    assert receipts == {user: ("error", "DeviceNotRegistered"), other: ("ok", None)}
    assert poll_receipts(expo, clock=clock)["checked"] == 0  # recorded once


def test_429_and_5xx_are_retried_and_the_push_goes_out_once(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    user = rows.user()
    rows.notify(user, "new_message")
    fake_expo.script(Fault(429, retry_after="1"), Fault(503), Fault(502))

    started = datetime.now(UTC)
    summary = run(expo, clock)

    assert summary["sent"] == 1
    assert [r.status for r in fake_expo.send_requests()] == [429, 503, 502, 200]
    assert datetime.now(UTC) - started >= timedelta(seconds=1)  # Retry-After honoured
    assert len(fake_expo.accepted) == 1
    assert rows.notifications(user)[0].status == "sent"


def test_a_push_service_outage_carries_the_rows_to_the_next_run(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    user = rows.user()
    rows.notify(user, "new_message")
    fake_expo.script(*[Fault(503)] * 4)  # every attempt of this run

    summary = run(expo, clock)

    assert summary["carried"] == 1 and summary["sent"] == 0
    (stored,) = rows.notifications(user)
    assert (stored.status, stored.status_reason, stored.digest_id) == ("pending", "carried", None)
    assert [d.state for d in rows.deliveries()] == ["carried"]

    clock.advance(minutes=5)
    assert run(expo, clock)["sent"] == 1
    assert len(fake_expo.accepted) == 1


def test_a_400_is_not_retried_and_closes_the_rows_with_the_error(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    user = rows.user()
    rows.notify(user, "new_message")
    fake_expo.script(Fault(400, code="VALIDATION_ERROR"))

    summary = run(expo, clock)

    assert summary["failed"] == 1
    assert [r.status for r in fake_expo.send_requests()] == [400]
    (stored,) = rows.notifications(user)
    assert (stored.status, stored.status_reason) == ("dropped", "push_error:VALIDATION_ERROR")


def test_an_answer_that_never_comes_is_reported_unknown_and_not_resent(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    user = rows.user()
    rows.notify(user, "new_message")
    fake_expo.script(Fault(delay=2.0))  # processed, but answered after the 1 s client timeout

    summary = run(expo, clock)

    assert summary["unknown"] == 1
    assert len(fake_expo.send_requests()) == 1 and len(fake_expo.accepted) == 1
    (stored,) = rows.notifications(user)
    assert (stored.status, stored.status_reason) == ("dropped", "delivery_unknown")
    assert run(expo, clock)["pushes"] == 0


def test_a_user_without_an_active_token_gets_nothing_and_rows_are_closed_with_a_reason(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    user = rows.user(tokens=0)
    rows.notify(user, "daily_matches")
    rows.notify(user, "new_message")

    summary = run(expo, clock)

    assert summary["dropped"] == 2 and summary["pushes"] == 0
    assert fake_expo.requests == []
    assert {(n.status, n.status_reason) for n in rows.notifications(user)} == {
        ("dropped", "no_active_token")
    }
    assert rows.deliveries() == []


def test_rows_that_no_longer_apply_are_dropped_with_their_reason(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    suspended = rows.user(status="suspended")
    deleted = rows.user(deleted_at=clock() - timedelta(days=1))
    user, pest = rows.user(), rows.user()
    rows.block(user, pest)
    rows.notify(suspended, "daily_matches")
    notice = rows.notify(suspended, "safety", messageId="m1", suspended=True)
    rows.notify(deleted, "daily_matches")
    rows.notify(user, "new_message", sender_id=str(pest))
    rows.notify(user, "new_message", **{"from": str(pest)})  # type: ignore[arg-type]
    rows.notify(user, "daily_matches", age_minutes=25 * 60)
    kept = rows.notify(user, "offer_accepted")

    run(expo, clock)

    reasons = {n.id: (n.status, n.status_reason) for n in rows.notifications()}
    assert sorted(reasons.values()) == sorted(
        [
            ("dropped", "user_inactive"),
            ("dropped", "user_inactive"),
            ("dropped", "sender_blocked"),
            ("dropped", "sender_blocked"),
            ("dropped", "expired"),
            ("sent", None),
            ("sent", None),
        ]
    )
    assert reasons[kept] == reasons[notice] == ("sent", None)  # a suspension notice still goes
    assert sorted(m["title"] for m in fake_expo.accepted) == ["Account notice", "It's a match!"]


def test_the_daily_cap_defers_to_the_next_local_morning(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    clock.now = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)  # 10:00 in New York (EDT)
    user = rows.user(timezone="America/New_York")
    for _ in range(3):
        rows.notify(user, "new_message")
        run(expo, clock, max_per_day=2)
        clock.advance(minutes=5)

    assert len(fake_expo.accepted) == 2
    last = rows.notifications(user)[-1]
    assert (last.status, last.status_reason) == ("deferred", "daily_cap")
    assert last.deliver_after == datetime(2026, 7, 2, 12, 0, tzinfo=UTC)  # 08:00 EDT


def test_the_rate_limit_leaves_what_does_not_fit_for_the_next_run(
    rows: Rows, clock: Clock, fake_expo: FakeExpo
) -> None:
    users = [rows.user() for _ in range(250)]
    for user in users:
        rows.notify(user, "daily_matches")
    slow = ExpoPushClient(push_settings(fake_expo.url, rate_limit=100))
    try:
        first = run(slow, clock, run_seconds=1.5)
        assert 100 <= first["sent"] < 250 and first["carried"] > 0
        assert first["sent"] + first["carried"] == first["pushes"]
        clock.advance(minutes=5)
        second = run(slow, clock, run_seconds=10)
    finally:
        slow.close()

    assert first["sent"] + second["sent"] == 250
    tokens = fake_expo.tokens_received()
    assert len(tokens) == len(set(tokens)) == 250
    assert {n.status for n in rows.notifications()} == {"sent"}


def test_a_receipt_that_never_comes_is_asked_again_then_recorded_expired(
    rows: Rows, clock: Clock, fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    from yoked_actors.notifications.receipts import poll_receipts

    rows.notify(rows.user(), "daily_matches")
    run(expo, clock)
    fake_expo.tickets.clear()  # Expo lost it (or has not produced it yet)

    clock.advance(minutes=16)
    assert poll_receipts(expo, clock=clock)["not_ready"] == 1
    clock.advance(hours=24)
    assert poll_receipts(expo, clock=clock)["expired"] == 1
    assert [d.receipt_status for d in rows.deliveries()] == ["expired"]
    assert poll_receipts(expo, clock=clock)["checked"] == 0
