"""Fixtures for the notification tests: the fake Expo server, a client pointed at it, a clock
the test moves, and row factories (real PostgreSQL through ``clean_db``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fake_expo import FakeExpo
from notify_support import ACCESS_TOKEN, Clock, Rows, push_settings

from yoked_actors.notifications.expo import ExpoPushClient


@pytest.fixture
def clock() -> Clock:
    # 12:00 UTC: outside the default quiet hours (22-8) in UTC and Europe; see each test.
    return Clock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))


@pytest.fixture
def fake_expo() -> Iterator[FakeExpo]:
    server = FakeExpo(access_token=ACCESS_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def expo(fake_expo: FakeExpo) -> Iterator[ExpoPushClient]:
    client = ExpoPushClient(push_settings(fake_expo.url))
    yield client
    client.close()


@pytest.fixture
def rows(clean_db: str, clock: Clock) -> Rows:
    return Rows(clock)
