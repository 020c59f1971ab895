"""Worker side: a scheduled message that waited beyond its window is recorded, not lost quietly
(periodiq's middleware drops it at INFO after 30 s)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sched_support import FakeClock, ledger_rows
from sqlalchemy import select

from yoked_actors import db
from yoked_actors.broker import middleware_stack
from yoked_actors.middleware.scheduled_fires import ScheduledFires
from yoked_actors.models.system import Ping
from yoked_actors.schedules import Schedule
from yoked_actors.scheduling.scheduler import Scheduler


def test_periodiq_middleware_is_replaced(settings: object) -> None:
    names = [type(m).__name__ for m in middleware_stack(settings)]  # type: ignore[arg-type]
    assert "ScheduledFires" in names and "PeriodiqMiddleware" not in names


def test_a_fire_that_waited_past_its_window_is_recorded_missed_and_a_timely_one_runs(
    rabbitmq_broker: RabbitmqBroker, worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    # The messages reach the worker ten minutes after their due time, as behind a busy queue.
    ten_minutes_ago = datetime.now(UTC).replace(second=5, microsecond=0) - timedelta(minutes=10)
    tight = Schedule(
        name="tight-window",
        cron="* * * * *",
        actor_name="system.ping",
        payload={"note": "tight"},
        catch_up=timedelta(minutes=1),
    )
    loose = Schedule(
        name="loose-window",
        cron="* * * * *",
        actor_name="system.ping",
        payload={"note": "loose"},
        catch_up=timedelta(hours=1),
    )
    with caplog.at_level(logging.WARNING, logger="yoked_actors.middleware.scheduled_fires"):
        Scheduler([tight, loose], clock=FakeClock(ten_minutes_ago)).tick()
        rabbitmq_broker.join("maintenance", timeout=30_000)
        worker.join()

    (late,) = ledger_rows("tight-window")
    assert late.status == "missed"
    assert late.lateness_ms is not None and late.lateness_ms >= 10 * 60 * 1000
    assert late.detail is not None and late.detail.endswith("(window 60 s)")
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "yoked_actors.middleware.scheduled_fires" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1 and str(late.message_id) in warnings[0]
    assert "recorded as missed, not run" in warnings[0]

    (timely,) = ledger_rows("loose-window")
    assert timely.status == "enqueued"
    with db.session_scope() as session:
        notes = sorted(session.scalars(select(Ping.note)))
    assert notes == ["loose"]  # the tight one never ran


@pytest.mark.parametrize(
    "options",
    [
        {"scheduled_at": "2020-01-01T00:00:00+00:00"},  # periodiq style, no window
        {"scheduled_at": "2020-01-01T00:00:00+00:00", "catch_up_s": 60, "retries": 1},
        {},  # a manual send
    ],
    ids=["no-window", "retry", "manual"],
)
def test_messages_that_are_not_first_deliveries_of_a_fire_always_run(
    options: dict[str, object],
) -> None:
    class Message:
        message_id = "m1"
        actor_name = "system.ping"

    message = Message()
    message.options = options  # type: ignore[attr-defined]
    middleware = ScheduledFires(clock=lambda: datetime.now(UTC))
    middleware.before_process_message(None, message)  # type: ignore[arg-type]


def test_a_late_mark_waits_for_the_claim_it_races(clean_db: str) -> None:
    """The worker can see the message before the scheduler's claim commits (the send is inside
    that transaction): its record of the missed fire must land after the claim, not vanish."""
    import threading

    from yoked_actors.scheduling import store

    due = datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    with db.session_scope() as claimer:
        assert store.claim(
            claimer, schedule="raced", due_at=due, actor="system.ping", scheduler_id="s1", now=due
        )
        store.mark_enqueued(claimer, schedule="raced", due_at=due, message_id="m1", enqueued_at=due)

        def worker_side() -> None:
            with db.session_scope() as session:
                store.mark_late(
                    session,
                    schedule="raced",
                    due_at=due,
                    actor="system.ping",
                    lateness_ms=600_000,
                    detail="late",
                    now=due + timedelta(minutes=10),
                )

        thread = threading.Thread(target=worker_side)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive()  # waiting on the uncommitted claim
    thread.join(timeout=10)
    (row,) = ledger_rows("raced")
    assert (row.status, row.message_id, row.lateness_ms) == ("missed", "m1", 600_000)
