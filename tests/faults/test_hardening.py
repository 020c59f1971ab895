"""Production hardening against real servers: run history through SIGKILL, a graceful SIGTERM,
and the reconciler re-deriving work whose event was lost.

Each scenario prints a FAULTS line like the rest of the fault suite.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pika
import psycopg
import pytest
from common_support import wait_until
from fault_actors import SLOW_JOB
from fault_effects import Report, effects, plain, run_rows, seed_chat
from fault_processes import worker_process
from fault_traffic import fault_message, fresh_start, producer_broker, purge, queue_depth

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

MODERATION_QUEUE = "moderation"


def _publish_events(rabbitmq_url: str, rows: list[tuple[str, str, str]]) -> set[str]:
    """Publish message.sent for each row as the wire format says (confirms); the message ids."""
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    channel = connection.channel()
    channel.confirm_delivery()
    ids = set()
    for message_id, content, sender in rows:
        dramatiq_id = str(uuid.uuid4())
        body = {
            "queue_name": MODERATION_QUEUE,
            "actor_name": "moderation.moderate_message",
            "args": [],
            "kwargs": {"messageId": message_id, "content": content, "senderId": sender},
            "options": {},
            "message_id": dramatiq_id,
            "message_timestamp": int(time.time() * 1000),
        }
        channel.basic_publish(
            "",
            MODERATION_QUEUE,
            json.dumps(body).encode(),
            pika.BasicProperties(delivery_mode=2, content_type="application/json"),
        )
        ids.add(dramatiq_id)
    connection.close()
    return ids


def _moderated(database_url: str, ids: list[str]) -> dict[str, int]:
    with psycopg.connect(plain(database_url)) as connection:
        results = connection.execute(
            "SELECT count(*) FROM moderation_results WHERE message_id = ANY(%s::uuid[])", (ids,)
        ).fetchone()
        pending = connection.execute(
            "SELECT count(*) FROM messages WHERE id = ANY(%s::uuid[]) "
            "AND moderation_status = 'pending'",
            (ids,),
        ).fetchone()
        flagged = connection.execute(
            "SELECT count(*) FROM moderation_results WHERE message_id = ANY(%s::uuid[]) "
            "AND decision <> 'clean'",
            (ids,),
        ).fetchone()
        strikes = connection.execute(
            "SELECT count(*), count(DISTINCT message_id) FROM user_strikes "
            "WHERE message_id = ANY(%s::uuid[])",
            (ids,),
        ).fetchone()
    assert results and pending and flagged and strikes
    return {
        "results": results[0],
        "pending": pending[0],
        "flagged": flagged[0],
        "strikes": strikes[0],
        "strike_messages": strikes[1],
    }


def _moderation_depth(rabbitmq_url: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        channel = connection.channel()
        return sum(
            channel.queue_declare(name, passive=True, durable=True).method.message_count
            for name in (MODERATION_QUEUE, f"{MODERATION_QUEUE}.DQ")
        )
    finally:
        connection.close()


def _truncate_chat(database_url: str) -> None:
    with psycopg.connect(plain(database_url), autocommit=True) as connection:
        connection.execute(
            "TRUNCATE job_runs, idempotency_keys, moderation_results, user_strikes, "
            "notifications, messages, users CASCADE"
        )


def test_every_run_on_record_through_three_sigkills(
    database_url: str, rabbitmq_url: str, tmp_path: Path
) -> None:
    """3,000 message.sent events, the worker children killed with SIGKILL 3 times: every
    message judged once, and every message in job_runs with a final status."""
    _truncate_chat(database_url)
    report = Report("SIGKILL of worker children x3, 3000 message.sent: run history complete")
    rows = seed_chat(database_url, 3_000, flag_every=10)
    ids = [r[0] for r in rows]
    with worker_process(database_url, rabbitmq_url, tmp_path / "worker.log") as worker:
        # The worker declared the queues; stopped while the events are published, it finds
        # them all waiting, so each kill below lands in the middle of the run (a worker that
        # kept pace with the publisher left nothing to kill on a quiet machine).
        worker.terminate()
        purge(rabbitmq_url, MODERATION_QUEUE)
        message_ids = _publish_events(rabbitmq_url, rows)
        started = time.monotonic()
        worker.start()
        kills = 0
        for _ in range(3):
            time.sleep(0.5)
            if _moderation_depth(rabbitmq_url) == 0:
                break  # too fast to kill mid-run: the check below still holds
            worker.kill9_children()
            kills += 1
            worker.start()
        wait_until(
            lambda: (
                _moderated(database_url, ids)["results"] == len(ids)
                and _moderation_depth(rabbitmq_url) == 0
            ),
            180,
            "every message judged after the kills",
        )
        report.recovery_s = time.monotonic() - started

        def recorded() -> set[str]:
            rows_ = run_rows(database_url, "status IN ('succeeded', 'skipped')")
            return {r["message_id"] for r in rows_} & message_ids

        # Records are committed before each ack: none can have been lost in a buffer. (A
        # message acknowledged a moment ago still waits for nothing; this only covers the
        # last in-flight acks, which a lost record would never satisfy.)
        wait_until(lambda: recorded() == message_ids, 15, "every message in job_runs")
        assert worker.alive()
    counts = _moderated(database_url, ids)
    report.sent, report.effects = len(ids), counts["results"]
    report.notes = {"kills": kills, "runs_recorded": len(recorded()), **counts}
    print(
        f"\nFAULTS {report.scenario}: {json.dumps(report.notes)} recovery_s={report.recovery_s:.1f}"
    )
    assert kills == 3
    assert counts["pending"] == 0
    assert counts["strikes"] == counts["strike_messages"] == counts["flagged"] > 0
    assert run_rows(database_url, "status NOT IN ('succeeded', 'skipped')") == []


def test_sigterm_lets_jobs_finish_and_requeues_the_rest_without_a_retry(
    database_url: str, rabbitmq_url: str, tmp_path: Path
) -> None:
    """SIGTERM during 500 jobs: every effect once, no retry consumed, nothing failed; the jobs
    still running when the grace period ends are recorded interrupted and run again."""
    fresh_start(database_url, rabbitmq_url)
    report = Report("SIGTERM during 500 jobs (grace 3 s, 20 jobs of 5 s)")
    keys = [f"term-{i:03d}" for i in range(500)]
    broker = producer_broker(rabbitmq_url)
    grace = ("--worker-shutdown-timeout", "3000")
    with worker_process(
        database_url, rabbitmq_url, tmp_path / "worker.log", threads=8, dramatiq_args=grace
    ) as worker:
        message_ids = set()
        for i, key in enumerate(keys):
            message = fault_message(key, work_ms=5_000 if i % 25 == 0 else 50)
            if i % 25 == 0:
                message = message.copy(actor_name=SLOW_JOB)
            message_ids.add(broker.enqueue(message).message_id)
        time.sleep(2.0)
        stopping = time.monotonic()
        status = worker.terminate()
        report.notes["shutdown_s"] = round(time.monotonic() - stopping, 1)
        interrupted = run_rows(database_url, "status = 'interrupted'")
        worker.start()
        report.recovery_s = wait_until(
            lambda: set(keys) <= set(effects(database_url)) and queue_depth(rabbitmq_url) == 0,
            120,
            "every effect after the restart",
        )
        wait_until(
            lambda: (
                {r["message_id"] for r in run_rows(database_url)} >= message_ids
                and not run_rows(database_url, "status IN ('running', 'interrupted', 'queued')")
            ),
            15,
            "every run recorded finished",
        )
    broker.close()
    runs = run_rows(database_url)
    report.notes.update(
        exit_status=status,
        interrupted_at_shutdown=len(interrupted),
        retries_consumed=sum(r["attempts"] - 1 for r in runs),
        failed=sum(r["status"] in ("failed", "dead") for r in runs),
    )
    report.check(database_url, set(keys))
    assert status == 0
    assert interrupted, "no job was still running when the grace period ended"
    assert {r["actor"] for r in interrupted} == {SLOW_JOB}
    assert all(r["attempts"] == 1 for r in runs), "a retry was consumed"
    assert {r["status"] for r in runs} <= {"succeeded", "skipped"}
