"""The daily-match dispatcher against real PostgreSQL: each (timezone, local date) once, at the
first run at or after 09:00 local and before 12:00, for any UTC offset."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from common_support import drain, utc
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import select, update

from yoked_actors import db
from yoked_actors.jobs import get_job
from yoked_actors.matching import dispatch
from yoked_actors.models.contract import User
from yoked_actors.models.matching import DailyDispatch

ZONES = (
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Pacific/Chatham",  # +13:45 in January (its DST)
    "Pacific/Kiritimati",  # +14
    "America/St_Johns",  # -03:30
    "Europe/London",
    "UTC",
)


@dataclass
class Sent:
    message_id: str


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, date]]:
    """The generations the dispatcher enqueued (the claims themselves are real SQL)."""
    calls: list[tuple[str, date]] = []
    lock = threading.Lock()

    def record(timezone: str, local_date: date) -> Sent:
        with lock:
            calls.append((timezone, local_date))
        return Sent(message_id=f"m-{timezone}-{local_date}")

    monkeypatch.setattr(dispatch, "send_generation", record)
    monkeypatch.setattr(dispatch, "generator_declared", lambda: True)
    return calls


def add_user(timezone: str, *, active_at: datetime, **fields: Any) -> uuid.UUID:
    with db.session_scope() as session:
        user = User(timezone=timezone, last_active_at=active_at, **fields)
        session.add(user)
        session.flush()
        return user.id


def run(now: datetime) -> dict[str, int]:
    return get_job("matching.dispatch_daily").run({"now": now.isoformat()})


def claims() -> list[tuple[str, date]]:
    with db.session_scope() as session:
        rows = session.execute(
            select(DailyDispatch.timezone, DailyDispatch.local_date).order_by(
                DailyDispatch.local_date, DailyDispatch.timezone
            )
        ).all()
    return [(row[0], row[1]) for row in rows]


def nine_am(timezone: str, day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def test_every_zone_is_dispatched_once_per_local_date_at_nine(
    clean_db: str, sent: list[tuple[str, date]]
) -> None:
    start, end = utc("2026-01-14T00:00:00"), utc("2026-01-16T00:00:00")
    for zone in ZONES:
        add_user(zone, active_at=start - timedelta(days=1))
    first_seen: dict[tuple[str, date], datetime] = {}
    now = start
    while now < end:  # every 15 minutes, as scheduled
        before = len(sent)
        run(now)
        for claim in sent[before:]:
            first_seen[claim] = now
        now += timedelta(minutes=15)

    expected = {
        (zone, day): nine_am(zone, day)
        for zone in ZONES
        for day in (date(2026, 1, 13) + timedelta(days=i) for i in range(5))
        if start <= nine_am(zone, day) < end
    }
    assert first_seen == expected  # at 09:00 local exactly, each (zone, date) once
    assert len(sent) == len(expected)
    assert sorted(claims()) == sorted(expected)
    # The +13:45 and +14 zones reach 09:00 on the 15th the day before in UTC.
    assert expected[("Pacific/Chatham", date(2026, 1, 15))] == utc("2026-01-14T19:15:00")
    assert expected[("Pacific/Kiritimati", date(2026, 1, 15))] == utc("2026-01-14T19:00:00")
    assert expected[("Asia/Kathmandu", date(2026, 1, 15))] == utc("2026-01-15T03:15:00")


def test_only_eligible_users_count(clean_db: str, sent: list[tuple[str, date]]) -> None:
    now = utc("2026-01-15T09:00:00")
    add_user("Europe/London", active_at=now - timedelta(days=1))
    add_user("Europe/Lisbon", active_at=now - timedelta(days=1), status="suspended")
    add_user("Africa/Abidjan", active_at=now - timedelta(days=1), deleted_at=now)
    add_user("Atlantic/Reykjavik", active_at=now - timedelta(days=15))
    add_user("Africa/Dakar", active_at=None)  # type: ignore[arg-type]
    assert run(now)["dispatched"] == 1
    assert sent == [("Europe/London", date(2026, 1, 15))]


def test_cut_off_at_noon_after_an_outage(clean_db: str, sent: list[tuple[str, date]]) -> None:
    add_user("Asia/Kolkata", active_at=utc("2026-01-15T00:00:00"))
    assert run(utc("2026-01-15T06:30:00"))["outside_window"] == 1  # 12:00 IST: too late
    assert run(utc("2026-01-16T06:15:00"))["dispatched"] == 1  # 11:45 IST: still dispatched
    assert sent == [("Asia/Kolkata", date(2026, 1, 16))]


def test_a_user_who_changes_timezone(clean_db: str, sent: list[tuple[str, date]]) -> None:
    user = add_user("Asia/Tokyo", active_at=utc("2026-01-14T00:00:00"))

    def move(timezone: str) -> None:
        with db.session_scope() as session:
            session.execute(update(User).where(User.id == user).values(timezone=timezone))

    run(utc("2026-01-15T00:00:00"))  # 09:00 in Tokyo
    move("America/New_York")
    run(utc("2026-01-15T00:15:00"))  # Tokyo's day is claimed, New York is at 19:15 the 14th
    run(utc("2026-01-15T14:00:00"))  # 09:00 in New York, 15 January
    move("Asia/Tokyo")
    run(utc("2026-01-15T14:15:00"))  # 23:15 in Tokyo: nothing; New York's day is claimed
    run(utc("2026-01-16T00:00:00"))  # 09:00 in Tokyo, 16 January
    assert sent == [
        ("Asia/Tokyo", date(2026, 1, 15)),
        ("America/New_York", date(2026, 1, 15)),
        ("Asia/Tokyo", date(2026, 1, 16)),
    ]


def test_concurrent_runs_claim_each_zone_once(clean_db: str, sent: list[tuple[str, date]]) -> None:
    now = utc("2026-01-15T03:30:00")  # 09:00 in Kolkata, 09:15 in Kathmandu
    for zone in ("Asia/Kolkata", "Asia/Kathmandu", "Asia/Dhaka", "Asia/Karachi"):
        add_user(zone, active_at=now)
    results: list[dict[str, int]] = []
    threads = [threading.Thread(target=lambda: results.append(run(now))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(sent) == [
        ("Asia/Dhaka", date(2026, 1, 15)),  # 09:30
        ("Asia/Kathmandu", date(2026, 1, 15)),
        ("Asia/Kolkata", date(2026, 1, 15)),
    ]  # Karachi is at 08:30
    assert sum(r["dispatched"] for r in results) == 3
    assert sum(r["already"] for r in results) == 9


def test_an_unknown_timezone_name_is_skipped(clean_db: str, sent: list[tuple[str, date]]) -> None:
    now = utc("2026-01-15T09:00:00")
    add_user("Not/AZone", active_at=now)
    add_user("UTC", active_at=now)
    summary = run(now)
    assert summary["invalid"] == 1 and summary["dispatched"] == 1
    assert sent == [("UTC", date(2026, 1, 15))]


def test_without_the_generator_nothing_is_claimed(
    clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatch, "generator_declared", lambda: False)
    now = utc("2026-01-15T09:00:00")
    add_user("UTC", active_at=now)
    assert run(now)["generator_missing"] == 1
    assert claims() == []  # dispatched once the generator is deployed, before noon


def test_dispatch_enqueues_generation_on_rabbitmq(rabbitmq_broker: RabbitmqBroker) -> None:
    """Through the real broker: needs `matching.generate_daily` to be declared."""
    generate = get_job("matching.generate_daily")
    now = utc("2026-01-15T03:15:00")  # 09:00 in Kathmandu
    add_user("Asia/Kathmandu", active_at=now)
    assert run(now)["dispatched"] == 1
    assert run(now)["dispatched"] == 0
    (message,) = drain(rabbitmq_broker, generate.queue)
    assert message["actor_name"] == "matching.generate_daily"
    assert message["kwargs"] == {"timezone": "Asia/Kathmandu", "local_date": "2026-01-15"}
    with db.session_scope() as session:
        row = session.scalars(select(DailyDispatch)).one()
    assert row.message_id == message["message_id"] and row.users == 1
