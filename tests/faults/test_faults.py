"""Fault injection against real servers: a worker killed mid-job, RabbitMQ restarted under load,
PostgreSQL stopped, malformed messages, a job blocked in the database past its time limit.

Each scenario asserts that every accepted message's effect is present exactly once, that nothing
is left in the queues and that the worker is still alive; each prints a FAULTS line with the
figures (sent / effects present / duplicates / recovery time). Run them alone with
``scripts/test -m faults``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pika
import pytest
from common_support import wait_until
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from fault_effects import FAULT_JOB, FAULT_QUEUE, Report, create_effects_table, effects, run_rows
from fault_processes import SERVER_STOPPED, PrivatePostgres, private_rabbit, worker_process
from fault_traffic import fault_message, fresh_start, producer_broker, queue_depth, traffic

from yoked_actors.broker import middleware_stack
from yoked_actors.settings import load_settings

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240), *SERVER_STOPPED]

#: How long scenario 3 keeps PostgreSQL down: short enough for the suite, longer than any single
#: backoff step of the run recorder and the retry policy (5 s).
POSTGRES_OUTAGE_S = 20


def _not_terminal(database_url: str) -> int:
    return len(run_rows(database_url, "status IN ('queued', 'running', 'retrying')"))


def _drained(database_url: str, rabbitmq_url: str, keys: set[str]) -> bool:
    return keys <= set(effects(database_url)) and queue_depth(rabbitmq_url) == 0


def test_worker_killed_three_times_mid_run(
    database_url: str, rabbitmq_url: str, tmp_path: Path
) -> None:
    fresh_start(database_url, rabbitmq_url)
    report = Report("kill-9 worker x3, 200 jobs")
    keys = {f"kill-{i:03d}" for i in range(200)}
    broker = producer_broker(rabbitmq_url)
    with worker_process(database_url, rabbitmq_url, tmp_path / "worker.log") as worker:
        message_ids = {broker.enqueue(fault_message(key, work_ms=60)).message_id for key in keys}
        for _ in range(3):
            time.sleep(1.0)
            worker.kill9()
            worker.start()
        report.recovery_s = wait_until(
            lambda: _drained(database_url, rabbitmq_url, keys), 120, "all effects after kills"
        )
        assert worker.alive()
        # A message is acknowledged only once its run is on record (runs/recorder.py), so the
        # kills lose no record: every message ends in job_runs.
        wait_until(
            lambda: message_ids <= {row["message_id"] for row in run_rows(database_url)},
            15,
            "every run recorded",
        )
        recorded = {row["message_id"] for row in run_rows(database_url)}
        report.notes = {
            "runs_recorded": len(message_ids & recorded),
            "runs_left_not_terminal": _not_terminal(database_url),
            "worker_starts": worker.starts,
        }
    broker.close()
    report.check(database_url, keys)


def test_rabbitmq_restarted_while_producing_and_consuming(
    database_url: str, tmp_path: Path
) -> None:
    """A producer sends 400 messages and the outbox gets 150 rows while RabbitMQ restarts."""
    create_effects_table(database_url)
    report = Report("RabbitMQ restart under load (direct sends + outbox relay)")
    outbox_keys = {f"outbox-{i:03d}" for i in range(150)}
    messages = [fault_message(f"rmq-{i:03d}", work_ms=20) for i in range(400)]
    with private_rabbit() as rabbit:
        # The outbox relay, in this process, publishing to the private node.
        settings = load_settings({"DATABASE_URL": database_url, "RABBITMQ_URL": rabbit.url})
        relay_broker = RabbitmqBroker(
            url=rabbit.url, confirm_delivery=True, middleware=middleware_stack(settings)
        )
        with (
            traffic(
                database_url,
                producer_broker(rabbit.url),
                relay_broker,
                messages,
                outbox_keys,
                send_pause_s=0.02,
                retry_pause_s=0.5,
                outbox_pause_s=0.05,
                give_up_after_s=90,
            ) as load,
            worker_process(database_url, rabbit.url, tmp_path / "worker.log") as worker,
        ):
            load.start()
            time.sleep(3)
            rabbit.stop()
            time.sleep(2)
            rabbit.start()
            restarted = time.monotonic()
            load.join_senders(timeout_s=120)
            wait_until(
                lambda: _drained(database_url, rabbit.url, load.accepted),
                120,
                "all accepted effects after the restart",
            )
            report.recovery_s = time.monotonic() - restarted
            assert worker.alive()
    report.notes = {
        "send_errors_retried": load.send_errors,
        "outbox_rows": len(outbox_keys),
        "relayed": load.relay.totals.sent,
    }
    report.check(database_url, load.accepted)
    assert len(load.accepted) == 400 + len(outbox_keys)
    assert load.relay.totals.sent == len(outbox_keys)  # each row published once


def test_postgres_stopped_while_jobs_run(rabbitmq_url: str, tmp_path: Path) -> None:
    postgres = PrivatePostgres()
    try:
        url = postgres.url
        fresh_start(url, rabbitmq_url)
        report = Report(f"PostgreSQL stopped {POSTGRES_OUTAGE_S} s")
        keys = {f"pg-{i:03d}" for i in range(100)}
        broker = producer_broker(rabbitmq_url)
        with worker_process(url, rabbitmq_url, tmp_path / "worker.log") as worker:
            for key in sorted(keys):
                broker.enqueue(fault_message(key, work_ms=50))
            time.sleep(0.5)
            postgres.stop()
            try:
                time.sleep(POSTGRES_OUTAGE_S)
            finally:
                postgres.start()
            assert postgres.server.get_uri(database="yoked_faults") in url.replace(
                "postgresql+psycopg://", "postgresql://"
            )
            report.recovery_s = wait_until(
                lambda: _drained(url, rabbitmq_url, keys), 120, "all effects after the outage"
            )
            assert worker.alive()
            time.sleep(1.0)  # the run history's buffered events land after the outage too
            retried = run_rows(url, "attempts > 1")
            report.notes = {
                "runs_retried": len(retried),
                "runs_left_not_terminal": _not_terminal(url),
            }
            assert _not_terminal(url) == 0
        broker.close()
        report.check(url, keys)
    finally:
        postgres.cleanup()


def _envelope(**overrides: object) -> dict[str, object]:
    envelope: dict[str, object] = {
        "queue_name": FAULT_QUEUE,
        "actor_name": FAULT_JOB,
        "args": [],
        "kwargs": {"key": "x"},
        "options": {},
        "message_id": "",
        "message_timestamp": int(time.time() * 1000),
    }
    envelope.update(overrides)
    return envelope


def test_malformed_messages_are_dead_lettered_with_a_reason(
    database_url: str, rabbitmq_url: str, tmp_path: Path
) -> None:
    fresh_start(database_url, rabbitmq_url)
    with_ids = {  # message id -> (body, the reason the run history must give)
        "bad-actor": (_envelope(actor_name="nope.nothing"), "ActorNotFound"),
        "bad-type": (_envelope(kwargs={"key": 123}), "key: Input should be a valid string"),
        "bad-missing": (_envelope(kwargs={}), "key: Field required"),
        "bad-positional": (_envelope(args=["x"], kwargs={}), "positional arguments"),
        "bad-huge": (_envelope(kwargs={"key": "x" * 2_000_000}), "at most 100 characters"),
        "bad-extra": (_envelope(kwargs={"key": "x", "admin": True}), "admin: Extra inputs"),
        "bad-kwargs-list": (_envelope(kwargs=["x"]), "kwargs must be dict"),
    }
    undecodable = [
        b"{not json",
        b"\xff\xfe\x00binary",
        b"[1, 2, 3]",
        json.dumps({"actor_name": FAULT_JOB, "kwargs": {}}).encode(),
    ]
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    channel = connection.channel()
    properties = pika.BasicProperties(delivery_mode=2)
    for message_id, (envelope, _) in with_ids.items():
        envelope["message_id"] = message_id
        channel.basic_publish("", FAULT_QUEUE, json.dumps(envelope).encode(), properties)
    for body in undecodable:
        channel.basic_publish("", FAULT_QUEUE, body, properties)
    connection.close()
    sent = len(with_ids) + len(undecodable)

    report = Report(f"{sent} malformed messages")
    with worker_process(database_url, rabbitmq_url, tmp_path / "worker.log") as worker:
        started = time.monotonic()
        good = producer_broker(rabbitmq_url)
        good.enqueue(fault_message("good-after-poison"))
        good.close()
        wait_until(lambda: "good-after-poison" in effects(database_url), 30, "a good message")

        def recorded() -> list[dict[str, object]]:
            return run_rows(database_url, "status = 'failed'")

        wait_until(lambda: len(recorded()) == sent, 30, "every malformed message recorded")
        report.recovery_s = time.monotonic() - started
        assert worker.alive()
    runs = {row["message_id"]: row for row in recorded()}
    for message_id, (_, reason) in with_ids.items():
        row = runs[message_id]
        assert reason in f"{row['error_type']}: {row['error_message']}", row
        assert row["attempts"] == 1  # never retried
    decode_failures = [r for r in runs.values() if r["error_type"] == "DecodeError"]
    assert len(decode_failures) == len(undecodable) + 1  # + kwargs as a list
    assert all(str(r["error_message"]).startswith("malformed message:") for r in decode_failures)
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    dead = (
        connection.channel().queue_declare(f"{FAULT_QUEUE}.XQ", passive=True).method.message_count
    )
    connection.close()
    assert dead == sent
    report.notes = {
        "dead_lettered": dead,
        "reasons": sorted({str(r["error_type"]) for r in runs.values()}),
    }
    report.check(database_url, {"good-after-poison"})


def test_a_job_blocked_in_the_database_is_bounded_by_statement_timeout(
    database_url: str, rabbitmq_url: str, tmp_path: Path
) -> None:
    fresh_start(database_url, rabbitmq_url)
    report = Report("DB call blocking past the time limit")
    broker = producer_broker(rabbitmq_url)
    with worker_process(
        database_url, rabbitmq_url, tmp_path / "worker.log", STATEMENT_TIMEOUT_MS="1500"
    ) as worker:
        message = broker.enqueue(fault_message("blocked", block_db_s=60))
        report.recovery_s = wait_until(
            lambda: "blocked" in effects(database_url), 30, "the blocked job's effect"
        )
        assert worker.alive()
        time.sleep(0.5)
        row = run_rows(database_url, f"message_id = '{message.message_id}'")[0]
    broker.close()
    report.notes = {"attempts": row["attempts"], "first_error": row["error_type"]}
    assert row["status"] == "succeeded" and row["attempts"] == 2
    assert row["error_type"] in ("OperationalError(QueryCanceled)", "TimeLimitExceeded")
    assert report.recovery_s < 15  # not the 60 s the statement asked for
    report.check(database_url, {"blocked"})
