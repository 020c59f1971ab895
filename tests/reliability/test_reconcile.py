"""`maintenance.reconcile` re-derives lost work from PostgreSQL, against the real servers."""

from __future__ import annotations

import shlex
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

from common_support import wait_until
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import text

from yoked_actors.clock import utc_now
from yoked_actors.db import session_scope
from yoked_actors.events import emit
from yoked_actors.jobs import get_job
from yoked_actors.reconcile import reconcile

NEW_USER = "INSERT INTO users (id) VALUES (gen_random_uuid()) RETURNING id"
FLAGGED = "venmo me $50 now, cashapp works too"


def _lost_messages(count: int, *, age: timedelta) -> list[tuple[str, str, str]]:
    """Rows the API committed whose message.sent never arrived: (id, content, sender)."""
    rows = []
    with session_scope() as session:
        users = [
            str(
                session.execute(
                    text("INSERT INTO users (id) VALUES (gen_random_uuid()) RETURNING id")
                ).scalar()
            )
            for _ in range(5)
        ]
        for i in range(count):
            message_id, sender = str(uuid.uuid4()), users[i % 5]
            content = FLAGGED if i % 5 == 0 else f"leg day at {i % 9 + 1}?"
            session.execute(
                text(
                    "INSERT INTO messages (id, sender_id, recipient_id, content, created_at) "
                    "VALUES (:id, :sender, :recipient, :content, now() - :age)"
                ),
                {
                    "id": message_id,
                    "sender": sender,
                    "recipient": users[(i + 1) % 5],
                    "content": content,
                    "age": age,
                },
            )
            rows.append((message_id, content, sender))
    return rows


def _counts() -> dict[str, int]:
    with session_scope() as session:
        row = session.execute(
            text(
                "SELECT (SELECT count(*) FROM moderation_results) AS results, "
                "(SELECT count(*) FROM moderation_results WHERE decision <> 'clean') AS flagged, "
                "(SELECT count(*) FROM user_strikes) AS strikes, "
                "(SELECT count(*) FROM messages WHERE moderation_status = 'pending') AS pending, "
                "(SELECT count(*) FROM notifications WHERE kind = 'safety') AS safety"
            )
        ).one()
    return dict(row._mapping)


def test_lost_events_are_moderated_once_after_one_reconcile(
    rabbitmq_broker: RabbitmqBroker,
) -> None:
    rows = _lost_messages(50, age=timedelta(minutes=30))
    fresh = _lost_messages(3, age=timedelta(seconds=0))  # events may still be on their way
    assert reconcile(utc_now(), pending_after=timedelta(minutes=60)).pending_messages == 0

    # One scheduled run, as the scheduler sends it, then a worker.
    get_job("maintenance.reconcile").send({"pending_after_s": 600})
    worker = Worker(rabbitmq_broker, worker_threads=4, worker_timeout=50)
    worker.start()
    try:
        wait_until(lambda: _counts()["results"] == 50, 30, "50 lost messages moderated")
        first = _counts()
        assert first["pending"] == len(fresh)
        assert first["flagged"] == first["strikes"] == first["safety"] == 10

        # Their original events arrive late after all: nothing changes.
        for message_id, content, sender in rows:
            emit("message.sent", {"messageId": message_id, "content": content, "senderId": sender})
        worker.join()
        assert _counts() == first

        # Healthy again: a second run finds nothing (the fresh rows are not old enough).
        found = reconcile(utc_now(), pending_after=timedelta(seconds=600))
        assert not found.anything, found
    finally:
        worker.stop()


def test_reconcile_reports_and_fixes_each_stranded_state(
    rabbitmq_broker: RabbitmqBroker,
) -> None:
    now = utc_now()
    with session_scope() as session:
        session.execute(
            text(
                "INSERT INTO matching_runs (timezone, local_date, status, as_of, started_at) "
                "VALUES ('Europe/Paris', :day, 'running', :old, :old)"
            ),
            {"day": (now - timedelta(days=1)).date(), "old": now - timedelta(hours=3)},
        )
        session.execute(
            text(
                "INSERT INTO outbox (actor, payload, available_at) VALUES "
                "('system.ping', '{\"note\": \"stuck\"}', :old)"
            ),
            {"old": now - timedelta(hours=1)},
        )
        session.execute(
            text(
                "INSERT INTO job_runs (message_id, actor, queue, status, status_rank, attempts, "
                "updated_at) VALUES ('stale-1', 'system.ping', 'default', 'running', 1, 1, :old)"
            ),
            {"old": now - timedelta(hours=2)},
        )
        user = session.execute(text(NEW_USER)).scalar()
        session.execute(
            text(
                "INSERT INTO notification_deliveries (digest_id, user_id, kind, item_count, "
                "state, created_at, updated_at) "
                "VALUES (gen_random_uuid(), :user, 'match', 1, 'sending', :old, :old)"
            ),
            {"user": user, "old": now - timedelta(minutes=30)},
        )
    found = reconcile(now, pending_after=timedelta(minutes=10))
    assert (found.stuck_deliveries, found.deliveries_settled) == (1, 1)
    with session_scope() as session:
        state = session.execute(text("SELECT state FROM notification_deliveries")).scalar()
    assert state == "unknown"  # reported, never re-sent
    assert (found.unfinished_matching, found.matching_resent) == (1, 1)
    assert (found.stuck_outbox, found.outbox_relayed) == (1, 1)
    assert found.stale_runs == 1
    assert found.errors == []
    again = reconcile(now, pending_after=timedelta(minutes=10))
    assert (again.stuck_outbox, again.outbox_relayed) == (0, 0)  # published once
    assert again.stuck_deliveries == 0


def test_the_documented_manual_run_enqueues_a_reconcile(
    rabbitmq_broker: RabbitmqBroker, service_env: dict[str, str]
) -> None:
    """The manual run docs/reliability.md shows enqueues a reconcile."""
    docs = (Path(__file__).resolve().parents[2] / "docs/reliability.md").read_text()
    line = "yoked send maintenance.reconcile --payload '{\"pending_after_s\": 60}'"
    assert line in docs
    yoked = str(Path(sys.executable).with_name("yoked"))
    result = subprocess.run(
        [yoked, *shlex.split(line)[1:]], env=service_env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    queued = rabbitmq_broker.get_queue_message_counts("maintenance")[0]
    assert queued == 1
