"""The Expo push client over real HTTP against the fake server; the rate limiter's arithmetic."""

from __future__ import annotations

import gzip
import json
import logging

import pytest
from fake_expo import FakeExpo, Fault
from notify_support import push_settings

from yoked_actors.notifications.digest import Content
from yoked_actors.notifications.expo import ExpoPushClient, RateLimiter
from yoked_actors.notifications.push import LogPushProvider, PushMessage
from yoked_actors.settings import load_push_settings

CONTENT = Content(
    title="It's a match!", body="Say hi.", data={"url": "yoked://matches"}, priority="high"
)


def messages(n: int, prefix: str = "tok") -> list[PushMessage]:
    return [
        PushMessage(delivery_id=i, token=f"ExponentPushToken[{prefix}{i}]", content=CONTENT)
        for i in range(n)
    ]


def test_messages_go_100_per_gzip_request_and_tickets_come_back_in_order(
    fake_expo: FakeExpo, expo: ExpoPushClient
) -> None:
    fake_expo.unregistered.add("ExponentPushToken[tok150]")

    results = expo.send(messages(250))

    assert sorted(r.count for r in fake_expo.send_requests()) == [50, 100, 100]
    assert all(r.gzipped for r in fake_expo.send_requests())
    assert [r.outcome for r in results].count("ok") == 249
    assert (results[150].outcome, results[150].error) == ("error", "DeviceNotRegistered")
    ticket_of = {m["to"]: m["_ticket"] for m in fake_expo.accepted}
    assert results[7].ticket_id == ticket_of["ExponentPushToken[tok7]"]


def test_the_request_body_is_gzip_json_in_expo_format(fake_expo: FakeExpo) -> None:
    message = messages(1)[0].to_expo()
    assert json.loads(gzip.decompress(gzip.compress(json.dumps([message]).encode()))) == [
        {
            "to": "ExponentPushToken[tok0]",
            "title": "It's a match!",
            "body": "Say hi.",
            "data": {"url": "yoked://matches"},
            "priority": "high",
            "sound": "default",
            "ttl": 86400,
        }
    ]


def test_receipts_are_fetched_1000_ids_a_request(fake_expo: FakeExpo, expo: ExpoPushClient) -> None:
    results = expo.send(messages(1200))
    fake_expo.unregistered_later.add("ExponentPushToken[tok3]")
    tickets = [r.ticket_id for r in results if r.ticket_id]

    receipts = expo.get_receipts([*tickets, "never-issued"])

    receipt_requests = [r.count for r in fake_expo.requests if r.path.endswith("getReceipts")]
    assert receipt_requests == [1000, 201]
    assert len(receipts) == 1200 and "never-issued" not in receipts
    assert (receipts[tickets[3]].status, receipts[tickets[3]].error) == (
        "error",
        "DeviceNotRegistered",
    )


def test_a_wrong_access_token_is_not_retried_and_the_messages_are_carried(
    fake_expo: FakeExpo,
) -> None:
    client = ExpoPushClient(push_settings(fake_expo.url, access_token="wrong"))
    try:
        results = client.send(messages(250))
    finally:
        client.close()
    assert {r.outcome for r in results} == {"carried"}
    # Requests already in flight get the 401; those not yet started are not sent at all.
    assert "UNAUTHORIZED" in {r.error for r in results} <= {"UNAUTHORIZED", "not_started"}
    assert {r.status for r in fake_expo.send_requests()} == {401}  # none retried
    assert len(fake_expo.send_requests()) == sum(
        1 for r in results[::100] if r.error == "UNAUTHORIZED"
    )
    assert fake_expo.accepted == []


def test_an_unreachable_service_is_retried_then_carried() -> None:
    client = ExpoPushClient(push_settings("http://127.0.0.1:9", max_attempts=3))  # discard port
    try:
        results = client.send(messages(2))
    finally:
        client.close()
    assert {(r.outcome, r.error) for r in results} == {("carried", "ConnectError")}


def test_the_rate_limiter_paces_to_its_rate_and_stops_at_the_deadline() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(600, burst=100, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(7):
        assert limiter.acquire(100)
    # The first 100 are the burst; each further 100 waits 1/6 s: 600 a second.
    assert sum(slept) == pytest.approx(1.0)
    assert limiter.waited == pytest.approx(1.0)
    assert not limiter.acquire(100, deadline=now[0] + 0.1)  # would wait 1/6 s: carried
    limiter.pause(2.0)  # a 429 said Retry-After: 2
    assert limiter.reserve(100) == pytest.approx(2.0 + 1 / 6)


def test_settings_default_to_logging_in_development_and_expo_in_production() -> None:
    assert load_push_settings({}).provider == "log"
    production = load_push_settings({"YOKED_ENV": "production", "EXPO_ACCESS_TOKEN": "t"})
    assert (production.provider, production.base_url, production.rate_limit) == (
        "expo",
        "https://exp.host",
        600,
    )
    assert load_push_settings({"PUSH_PROVIDER": "log", "YOKED_ENV": "production"}).provider == (
        "log"
    )


def test_the_log_provider_logs_ids_and_counts_never_tokens_or_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    results = LogPushProvider().send(messages(3, prefix="secret"))
    assert [r.outcome for r in results] == ["ok"] * 3
    logged = caplog.text
    assert "3 pushes" in logged and "[0, 1, 2]" in logged
    assert "secret" not in logged and "match" not in logged


def test_client_logs_never_show_tokens_or_text(
    fake_expo: FakeExpo, expo: ExpoPushClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_expo.unregistered.add("ExponentPushToken[secret0]")
    fake_expo.script(Fault(503), Fault(400))
    expo.send(messages(2, prefix="secret"))
    assert "expo push" in caplog.text
    assert "secret" not in caplog.text and "Say hi" not in caplog.text
