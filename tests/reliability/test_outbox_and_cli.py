"""The outbox relay and the `yoked runs` commands, against the real servers."""

from __future__ import annotations

import json
import subprocess
import threading
from typing import Any

import psycopg
from common_support import wait_until
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from reliability_support import EFFECT_JOB, effects, runs_by_id
from sqlalchemy import text

from yoked_actors import db
from yoked_actors.actors.maintenance import PrunePayload, prune_runs
from yoked_actors.broker import use_broker
from yoked_actors.db import session_scope
from yoked_actors.runs.history import replay_run
from yoked_actors.runs.outbox import Relay, add_to_outbox, relay_once
from yoked_actors.runs.store import outbox_status, replayable_runs


def _plain_url(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _queue_count(broker: RabbitmqBroker, queue: str) -> int:
    return broker.channel.queue_declare(queue, passive=True).method.message_count


def test_only_committed_rows_are_published_once_each_by_concurrent_relays(
    effect: Any, rabbitmq_broker: RabbitmqBroker, database_url: str
) -> None:
    # The TypeScript API's way: plain SQL inside its own transaction.
    with psycopg.connect(_plain_url(database_url)) as connection:
        connection.execute(
            "INSERT INTO outbox (actor, payload) SELECT %s, jsonb_build_object('key', 'k' || i) "
            "FROM generate_series(1, 200) AS i",
            (EFFECT_JOB,),
        )
    with psycopg.connect(_plain_url(database_url)) as connection:
        connection.execute(
            'INSERT INTO outbox (actor, payload) VALUES (%s, \'{"key": "rolled-back"}\')',
            (EFFECT_JOB,),
        )
        connection.rollback()

    results: list[Any] = []
    relays = [
        threading.Thread(target=lambda: results.extend(relay_once(40) for _ in range(6)))
        for _ in range(3)
    ]
    for relay in relays:
        relay.start()
    for relay in relays:
        relay.join()

    assert sum(r.sent for r in results) == 200
    assert _queue_count(rabbitmq_broker, "default") == 200
    with session_scope() as session:
        assert outbox_status(session)["pending"] == 0
        message_ids = session.execute(
            text("SELECT count(DISTINCT message_id) FROM outbox")
        ).scalar()
    assert message_ids == 200


def test_bad_rows_fail_with_a_reason_and_the_relay_wakes_on_insert(
    effect: Any, effect_worker: Worker, database_url: str
) -> None:
    with psycopg.connect(_plain_url(database_url)) as connection:
        connection.execute("INSERT INTO outbox (actor, payload) VALUES ('nope.nothing', '{}')")
        connection.execute(
            'INSERT INTO outbox (actor, payload) VALUES (%s, \'{"key": 5, "extra": 1}\')',
            (EFFECT_JOB,),
        )
    relay = Relay(poll_interval_s=30)  # a poll would be too late: only NOTIFY can wake it
    thread = threading.Thread(target=relay.run)
    thread.start()
    try:
        wait_until(lambda: relay.totals.failed == 2)
        with session_scope() as session:
            add_to_outbox(session, EFFECT_JOB, {"key": "via-notify"}, idempotency_key="n-1")
            assert (
                add_to_outbox(session, EFFECT_JOB, {"key": "via-notify"}, idempotency_key="n-1")
                is None
            )
        wait_until(lambda: effects().get("via-notify") == 1, timeout=10)
    finally:
        relay.stop()
        thread.join()
    with db.get_engine().connect() as connection:
        errors: dict[str, str] = dict(
            connection.execute(
                text("SELECT actor, last_error FROM outbox WHERE failed_at IS NOT NULL")
            ).all()
        )
    assert "unknown actor 'nope.nothing'" in errors["nope.nothing"]
    assert "key: Input should be a valid string" in errors[EFFECT_JOB]
    assert "extra: Extra inputs are not permitted" in errors[EFFECT_JOB]


def _yoked(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [".venv/bin/yoked", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_runs_commands_list_show_replay_and_stats(
    effect: Any, effect_worker: Worker, service_env: dict[str, str]
) -> None:
    good = effect.send({"key": "good"})
    bad = effect.send({"key": "bad", "fail": "permanent"})
    wait_until(lambda: runs_by_id().get(bad.message_id, {}).get("status") == "failed")
    wait_until(lambda: runs_by_id().get(good.message_id, {}).get("status") == "succeeded")

    listed = json.loads(
        _yoked(service_env, "runs", "--status", "failed", "--actor", EFFECT_JOB, "--json").stdout
    )
    assert [r["message_id"] for r in listed] == [bad.message_id]

    shown = _yoked(service_env, "runs", "show", bad.message_id[:12], "--json")
    assert json.loads(shown.stdout)["error_message"] == "thing bad does not exist"
    assert json.loads(shown.stdout)["replayable"] is True

    stats = json.loads(_yoked(service_env, "runs", "stats", "--since", "1h", "--json").stdout)
    row = next(s for s in stats if s["actor"] == EFFECT_JOB)
    assert (row["succeeded"], row["failed"], row["failure_rate"]) == (1, 1, 0.5)
    assert row["p50_ms"] is not None

    # Replay (the CLI's function, in this process, which knows the test job): the payload
    # still fails permanently, but as a new run of its own with its retries reset.
    with session_scope() as session:
        selected = replayable_runs(session, status="failed", actor=EFFECT_JOB)
        assert [r.message_id for r in selected] == [bad.message_id]
        new_id = replay_run(selected[0]).new_message_id
    assert new_id is not None
    wait_until(lambda: runs_by_id().get(new_id, {}).get("status") == "failed")
    assert runs_by_id()[new_id]["replay_of"] == bad.message_id
    assert runs_by_id()[new_id]["attempts"] == 1

    refused = _yoked(service_env, "runs", "replay", good.message_id)
    assert refused.returncode == 1 and "not failed or dead" in refused.stdout
    assert _yoked(service_env, "runs", "--since", "yesterday").returncode == 2


def test_prune_keeps_recent_runs_and_pending_outbox_rows(clean_db: str) -> None:
    with db.get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO job_runs (message_id, actor, queue, status, updated_at) VALUES "
                "('old', 'a', 'q', 'succeeded', now() - interval '40 days'), "
                "('new', 'a', 'q', 'succeeded', now())"
            )
        )
        connection.execute(
            text(
                "INSERT INTO outbox (actor, created_at, sent_at) VALUES "
                "('a', now() - interval '40 days', now() - interval '40 days'), "
                "('a', now() - interval '40 days', NULL)"
            )
        )
    assert prune_runs.run(PrunePayload(retention_days=30)) == {
        "runs": 1,
        "idempotency_keys": 0,
        "outbox": 1,
    }
    assert set(runs_by_id()) == {"new"}
    assert prune_runs.run({})["runs"] == 0


def test_rows_wait_while_the_broker_is_down_and_go_once_it_is_back(
    effect: Any, rabbitmq_broker: RabbitmqBroker, database_url: str
) -> None:
    with session_scope() as session:
        add_to_outbox(session, EFFECT_JOB, {"key": "during-outage"})
    # A broker whose server is unreachable (nothing listens on port 1).
    down = RabbitmqBroker(
        url="amqp://guest:guest@127.0.0.1:1/?connection_attempts=1", confirm_delivery=True
    )
    use_broker(down)
    try:
        result = relay_once()
    finally:
        use_broker(rabbitmq_broker)
        down.close()
    assert result.broker_error is not None and result.sent == 0
    with session_scope() as session:
        assert outbox_status(session)["pending"] == 1
        attempts, last_error = session.execute(
            text("SELECT attempts, last_error FROM outbox")
        ).one()
    assert attempts == 1 and last_error  # the try is on record; the row is kept

    assert relay_once().sent == 1
    assert _queue_count(rabbitmq_broker, "default") == 1
