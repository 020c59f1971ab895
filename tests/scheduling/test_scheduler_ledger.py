"""The scheduler against real PostgreSQL and RabbitMQ, on an injected clock."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pika.exceptions
import pytest
from common_support import drain, utc
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from prometheus_client import REGISTRY
from sched_support import FakeClock, ledger_rows

from yoked_actors.schedules import Schedule
from yoked_actors.scheduling.scheduler import Scheduler

QUEUE = "maintenance"  # system.ping's queue


def ping_schedule(name: str, cron: str = "* * * * *", **kwargs: Any) -> Schedule:
    return Schedule(
        name=name, cron=cron, actor_name="system.ping", payload={"note": name}, **kwargs
    )


def test_two_schedulers_fire_each_minute_exactly_once(rabbitmq_broker: RabbitmqBroker) -> None:
    """Both replicas tick concurrently at every simulated instant (5 s steps over six
    minutes): the race on each due minute is real, the clock only waits for both to look."""
    schedule = ping_schedule("every-minute")
    clock = FakeClock(utc("2026-03-08T12:00:30"))
    replicas = [Scheduler([schedule], clock=clock, scheduler_id=f"s{i}") for i in (1, 2)]
    seen = [clock(), clock()]
    stop = threading.Event()

    def run(index: int) -> None:
        while not stop.is_set():
            instant = clock()
            replicas[index].tick(instant)
            seen[index] = instant
            time.sleep(0.0005)

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for _ in range(72):
        instant = clock.advance(seconds=5)
        deadline = time.monotonic() + 10
        while min(seen) < instant and time.monotonic() < deadline:
            time.sleep(0.0005)
    stop.set()
    for thread in threads:
        thread.join()
    assert min(seen) == clock() == utc("2026-03-08T12:06:30")

    rows = ledger_rows("every-minute")
    expected = [utc("2026-03-08T12:00:00") + timedelta(minutes=i) for i in range(7)]
    assert [r.due_at for r in rows] == expected
    assert {r.status for r in rows} == {"enqueued"}
    messages = drain(rabbitmq_broker, QUEUE)
    assert sorted(m["options"]["scheduled_at"] for m in messages) == [
        d.isoformat() for d in expected
    ]
    assert {m["message_id"] for m in messages} == {r.message_id for r in rows}
    assert all(m["kwargs"] == {"note": "every-minute", "sent_at": None} for m in messages)


def test_stopped_scheduler_catches_up_on_start(rabbitmq_broker: RabbitmqBroker) -> None:
    every = ping_schedule("catch-all", catch_up=timedelta(minutes=5), catch_up_mode="all")
    latest = ping_schedule("catch-latest", catch_up=timedelta(minutes=5))
    daily = ping_schedule("daily-0317", cron="17 3 * * *", catch_up=timedelta(hours=1))
    clock = FakeClock(utc("2026-03-08T03:00:10"))
    first = Scheduler([every, latest, daily], clock=clock)
    first.tick()  # fires 03:00 for both minute schedules, then "stops"

    clock.set(utc("2026-03-08T03:40:00"))  # down across 03:01 ... 03:40 and the daily 03:17
    result = Scheduler([every, latest, daily], clock=clock).tick()

    # Within the 5-minute window: 03:35 .. 03:40; before it: missed, never enqueued.
    all_rows = {r.due_at: r for r in ledger_rows("catch-all")}
    window = [utc("2026-03-08T03:35:00") + timedelta(minutes=i) for i in range(6)]
    assert [d for d, r in all_rows.items() if r.status == "enqueued"] == [
        utc("2026-03-08T03:00:00"),
        *window,
    ]
    missed = [d for d, r in all_rows.items() if r.status == "missed"]
    assert missed == [utc("2026-03-08T03:00:00") + timedelta(minutes=i) for i in range(1, 35)]
    assert {all_rows[d].detail for d in missed} == {"scheduler not running at the due time"}

    # "latest": only 03:40 runs; 03:35-03:39 are superseded.
    latest_rows = {r.due_at: r for r in ledger_rows("catch-latest")}
    assert [d for d, r in latest_rows.items() if r.status == "enqueued"] == [
        utc("2026-03-08T03:00:00"),
        utc("2026-03-08T03:40:00"),
    ]
    assert latest_rows[utc("2026-03-08T03:38:00")].detail == "superseded by a later fire (catch-up)"

    # The daily fire is 23 minutes late, within its hour: enqueued, lateness recorded.
    (daily_row,) = ledger_rows("daily-0317")
    assert daily_row.status == "enqueued"
    assert daily_row.lateness_ms == 23 * 60 * 1000
    enqueued = sorted(m["options"]["schedule_fire"] for m in drain(rabbitmq_broker, QUEUE))
    assert len(enqueued) == 2 + 6 + 1 + 1
    assert "daily-0317@2026-03-08T03:17:00+00:00" in enqueued
    assert len(result.enqueued) == 6 + 1 + 1


def test_a_fire_beyond_its_window_is_recorded_missed(rabbitmq_broker: RabbitmqBroker) -> None:
    daily = ping_schedule("daily-late", cron="17 3 * * *", catch_up=timedelta(hours=1))
    clock = FakeClock(utc("2026-03-07T03:17:05"))
    Scheduler([daily], clock=clock).tick()
    clock.set(utc("2026-03-08T05:00:00"))  # restarted 1 h 43 min after the next fire
    Scheduler([daily], clock=clock).tick()
    rows = ledger_rows("daily-late")
    assert [(r.due_at, r.status) for r in rows] == [
        (utc("2026-03-07T03:17:00"), "enqueued"),
        (utc("2026-03-08T03:17:00"), "missed"),
    ]
    assert len(drain(rabbitmq_broker, QUEUE)) == 1


def test_sunday_and_weekly_fire_in_their_timezone(rabbitmq_broker: RabbitmqBroker) -> None:
    weekly = ping_schedule("weekly", cron="@weekly")
    sunday = ping_schedule("sunday-9-london", cron="0 9 * * sun", timezone="Europe/London")
    sunday_ny = ping_schedule("sunday-9-ny", cron="0 9 * * 7", timezone="America/New_York")
    clock = FakeClock(utc("2026-03-07T23:59:30"))  # Saturday
    scheduler = Scheduler([weekly, sunday, sunday_ny], clock=clock)
    for instant in (
        "2026-03-07T23:59:30",
        "2026-03-08T00:00:01",
        "2026-03-08T09:00:01",
        "2026-03-08T13:00:01",
        "2026-03-09T09:00:01",
    ):
        clock.set(utc(instant))
        scheduler.tick()
    assert [r.due_at for r in ledger_rows("weekly")] == [utc("2026-03-08T00:00:00")]
    assert [r.due_at for r in ledger_rows("sunday-9-london")] == [utc("2026-03-08T09:00:00")]
    # New York is on EDT from 02:00 that Sunday: 09:00 local is 13:00Z.
    assert [r.due_at for r in ledger_rows("sunday-9-ny")] == [utc("2026-03-08T13:00:00")]
    assert len(drain(rabbitmq_broker, QUEUE)) == 3


def test_a_repeated_hour_fires_twice_for_a_wildcard_entry_each_once(
    rabbitmq_broker: RabbitmqBroker,
) -> None:
    """New York falls back 2026-11-01 02:00 EDT -> 01:00 EST. ``*/30 1 * * *`` fires at 01:00
    and 01:30 in both passes: four fires, two pairs with the same wall-clock time, each its own
    ledger row and message (the key is the UTC instant), with two replicas ticking."""
    twice = ping_schedule("half-hourly-1am", cron="*/30 1 * * *", timezone="America/New_York")
    once = ping_schedule("at-0130", cron="30 1 * * *", timezone="America/New_York")
    clock = FakeClock(utc("2026-11-01T04:50:00"))
    replicas = [Scheduler([twice, once], clock=clock, scheduler_id=f"s{i}") for i in (1, 2)]
    while clock() <= utc("2026-11-01T07:10:00"):
        for replica in replicas:
            replica.tick()
        clock.advance(minutes=5)
    rows = ledger_rows("half-hourly-1am")
    assert [r.due_at for r in rows] == [
        utc("2026-11-01T05:00:00"),  # 01:00 EDT
        utc("2026-11-01T05:30:00"),  # 01:30 EDT
        utc("2026-11-01T06:00:00"),  # 01:00 EST
        utc("2026-11-01T06:30:00"),  # 01:30 EST
    ]
    assert {r.status for r in rows} == {"enqueued"}
    assert [r.due_at for r in ledger_rows("at-0130")] == [utc("2026-11-01T05:30:00")]
    messages = drain(rabbitmq_broker, QUEUE)
    fires = sorted(m["options"]["schedule_fire"] for m in messages)
    assert fires == sorted(
        [
            "at-0130@2026-11-01T05:30:00+00:00",
            "half-hourly-1am@2026-11-01T05:00:00+00:00",
            "half-hourly-1am@2026-11-01T05:30:00+00:00",
            "half-hourly-1am@2026-11-01T06:00:00+00:00",
            "half-hourly-1am@2026-11-01T06:30:00+00:00",
        ]
    )
    assert len({m["message_id"] for m in messages}) == 5


def test_a_failed_enqueue_leaves_the_fire_unclaimed_and_retries_it(
    rabbitmq_broker: RabbitmqBroker,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    schedule = ping_schedule("flaky-broker")
    clock = FakeClock(utc("2026-03-08T12:00:02"))
    scheduler = Scheduler([schedule], clock=clock)
    real_enqueue = rabbitmq_broker.enqueue

    def broken(*args: object, **kwargs: object) -> None:
        raise pika.exceptions.AMQPConnectionError("broker unreachable")

    monkeypatch.setattr(rabbitmq_broker, "enqueue", broken)
    with caplog.at_level(logging.WARNING, logger="yoked_actors.scheduling.scheduler"):
        result = scheduler.tick()
    assert "scheduler: oldest overdue fire flaky-broker@2026-03-08T12:00:00+00:00 is 2 s late" in [
        r.getMessage() for r in caplog.records
    ]
    assert result.failed == ["flaky-broker@2026-03-08T12:00:00+00:00"]
    assert ledger_rows("flaky-broker") == []  # the claim rolled back with the failed send
    assert REGISTRY.get_sample_value("yoked_scheduler_oldest_overdue_seconds") == 2.0

    monkeypatch.setattr(rabbitmq_broker, "enqueue", real_enqueue)
    clock.set(utc("2026-03-08T12:00:05"))
    assert scheduler.tick().enqueued == ["flaky-broker@2026-03-08T12:00:00+00:00"]
    (row,) = ledger_rows("flaky-broker")
    assert row.status == "enqueued" and row.lateness_ms == 5000
    assert REGISTRY.get_sample_value("yoked_scheduler_oldest_overdue_seconds") == 0.0
    assert len(drain(rabbitmq_broker, QUEUE)) == 1


def test_an_undeclared_actor_is_reported_not_fatal(
    rabbitmq_broker: RabbitmqBroker, caplog: pytest.LogCaptureFixture
) -> None:
    ghost = Schedule(name="ghost", cron="* * * * *", actor_name="nowhere.to_be_found")
    good = ping_schedule("beside-ghost")
    clock = FakeClock(utc("2026-03-08T12:00:02"))
    scheduler = Scheduler([ghost, good], clock=clock)
    with caplog.at_level(logging.ERROR, logger="yoked_actors.scheduling.scheduler"):
        scheduler.tick()
        clock.set(utc("2026-03-08T12:01:02"))
        scheduler.tick()
    assert [r.status for r in ledger_rows("beside-ghost")] == ["enqueued", "enqueued"]
    ghost_rows = ledger_rows("ghost")
    assert [r.status for r in ghost_rows] == ["missed", "missed"]
    assert ghost_rows[0].detail == "actor nowhere.to_be_found is not declared"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "schedule ghost: actor nowhere.to_be_found is not declared; "
        "its fires are recorded as missed"
    ]
    assert len(drain(rabbitmq_broker, QUEUE)) == 2
