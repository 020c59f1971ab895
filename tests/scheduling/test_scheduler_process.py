"""`yoked scheduler` as operators run it: starts on the real servers, fires, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import select

from yoked_actors import db
from yoked_actors.models.scheduling import ScheduleFire
from yoked_actors.schedules import SCHEDULES


def test_scheduler_process_starts_records_and_stops(
    rabbitmq_broker: RabbitmqBroker, service_env: dict[str, str]
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "yoked_actors", "scheduler", "--interval", "0.2"],
        env=service_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # On a first start each schedule's latest fire within its window is due; the windows
        # overlap so that at any instant at least one schedule has one (the hourly expiry's
        # alone covers 50 minutes of each hour, the quarter-hour ones the rest).
        deadline = time.monotonic() + 30
        fired: list[ScheduleFire] = []
        while time.monotonic() < deadline and not fired:
            time.sleep(0.3)
            with db.session_scope() as session:
                fired = list(session.scalars(select(ScheduleFire)))
        assert fired, "no fire recorded within 30 s"
        assert all(
            f.scheduler_id and f.scheduler_id.split(":")[1] == str(process.pid) for f in fired
        )
        assert {f.schedule for f in fired} <= {s.name for s in SCHEDULES}
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert f"{len(SCHEDULES)} schedules" in output
