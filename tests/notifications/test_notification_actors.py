"""The actors end to end: a message through real RabbitMQ to a real worker, pushes to the fake
Expo server, rows in real PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from dramatiq import Worker
from fake_expo import FakeExpo
from notify_support import ACCESS_TOKEN, Rows

from yoked_actors.actors import ACTOR_MODULES
from yoked_actors.jobs import JOBS
from yoked_actors.notifications.provider import push_provider


@pytest.fixture
def expo_env(fake_expo: FakeExpo, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PUSH_PROVIDER", "expo")
    monkeypatch.setenv("EXPO_PUSH_URL", fake_expo.url)
    monkeypatch.setenv("EXPO_ACCESS_TOKEN", ACCESS_TOKEN)
    push_provider.cache_clear()
    yield
    if push_provider.cache_info().currsize:
        push_provider().close()
    push_provider.cache_clear()


def test_the_jobs_are_registered_on_the_notifications_queue() -> None:
    assert "yoked_actors.actors.notifications" in ACTOR_MODULES
    for name in ("notifications.send_batches", "notifications.poll_receipts"):
        assert JOBS[name].queue == "notifications"


def test_send_batches_through_a_real_worker_pushes_to_expo(
    expo_env: None, rows: Rows, fake_expo: FakeExpo, worker: Worker
) -> None:
    rows.clock.now = datetime.now(UTC)  # the actor runs on the real clock
    user = rows.user(tokens=2, quiet_hours_start=0, quiet_hours_end=0)  # whenever CI runs
    rows.notify(user, "daily_matches", count=3)

    JOBS["notifications.send_batches"].send({})

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and rows.notifications(user)[0].status == "pending":
        time.sleep(0.05)
    assert rows.notifications(user)[0].status == "sent"
    assert sorted(fake_expo.tokens_received()) == sorted(rows.tokens(user))
    assert {m["title"] for m in fake_expo.accepted} == {"Your 3 new workout partners"}
