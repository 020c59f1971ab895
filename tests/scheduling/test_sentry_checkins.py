"""Sentry Crons: one check-in per fire, `ok` when enqueued and `error` when missed."""

from __future__ import annotations

from datetime import timedelta

import sentry_sdk
from common_support import drain, utc
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sched_support import FakeClock
from sentry_capture import CapturingTransport

from yoked_actors.schedules import Schedule
from yoked_actors.scheduling.scheduler import Scheduler


def test_checkins_per_schedule(rabbitmq_broker: RabbitmqBroker) -> None:
    transport = CapturingTransport()
    sentry_sdk.init(dsn="https://public@sentry.invalid/1", transport=transport)
    try:
        schedule = Schedule(
            name="hourly-ping",
            cron="0 * * * *",
            actor_name="system.ping",
            timezone="Europe/London",
            catch_up=timedelta(minutes=10),
        )
        clock = FakeClock(utc("2026-03-08T12:00:03"))
        Scheduler([schedule], clock=clock).tick()
        clock.set(utc("2026-03-08T14:30:00"))  # restarted past 13:00's window
        Scheduler([schedule], clock=clock).tick()
        sentry_sdk.flush()
    finally:
        sentry_sdk.init(dsn=None)
    assert [(c["monitor_slug"], c["status"]) for c in transport.check_ins] == [
        ("hourly-ping", "ok"),
        ("hourly-ping", "error"),
    ]
    config = transport.check_ins[0]["monitor_config"]
    assert config["schedule"] == {"type": "crontab", "value": "0 * * * *"}
    assert config["timezone"] == "Europe/London" and config["checkin_margin"] == 10
    assert len(drain(rabbitmq_broker, "maintenance")) == 1
