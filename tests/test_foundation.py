"""The foundation end to end: CLI -> real RabbitMQ -> real worker -> real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from dramatiq import Worker
from sqlalchemy import select

from yoked_actors.db import session_scope
from yoked_actors.errors import PayloadError
from yoked_actors.jobs import JOBS
from yoked_actors.models.system import Ping

YOKED = [sys.executable, "-m", "yoked_actors"]


def wait_for(predicate, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def pings(note: str) -> list[Ping]:
    with session_scope() as session:
        return list(session.scalars(select(Ping).where(Ping.note == note)))


def test_a_sent_message_reaches_a_real_worker_and_writes_its_row(worker: Worker) -> None:
    sent_at = datetime.now(UTC)
    message = JOBS["system.ping"].send({"note": "e2e", "sent_at": sent_at.isoformat()})

    rows = wait_for(lambda: pings("e2e"))

    assert [r.message_id for r in rows] == [message.message_id]
    assert rows[0].sent_at == sent_at


def test_a_redelivered_message_writes_its_row_once(worker: Worker) -> None:
    job = JOBS["system.ping"]
    message = job.message({"note": "twice"})
    job.actor.broker.enqueue(message)
    job.actor.broker.enqueue(message)  # the same message id, as after a redelivery

    wait_for(lambda: pings("twice"))
    job.actor.broker.join(job.queue, timeout=10_000)
    worker.join()
    assert len(pings("twice")) == 1


def test_cli_send_enqueues_for_the_worker_and_prints_the_message_id(
    worker: Worker, service_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [*YOKED, "send", "system.ping", "--payload", '{"note": "from-cli"}'],
        env=service_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    message_id = result.stdout.strip()
    rows = wait_for(lambda: pings("from-cli"))
    assert rows[0].message_id == message_id


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["send", "nope.nothing", "--payload", "{}"], "unknown actor 'nope.nothing'"),
        (["send", "system.ping", "--payload", "{not json"], "--payload is not valid JSON"),
        (["send", "system.ping", "--payload", "[1, 2]"], "--payload must be a JSON object"),
        (
            ["send", "system.ping", "--payload", '{"note": 5}'],
            "system.ping: note: Input should be a valid string",
        ),
        (
            ["send", "system.ping", "--payload", '{"colour": "red"}'],
            "colour: Extra inputs are not permitted",
        ),
        (
            ["run", "system.ping", "--payload", '{"sent_at": "yesterday"}'],
            "sent_at: Input should be a valid datetime",
        ),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_and_enqueues_nothing(
    args: list[str],
    expected: str,
    rabbitmq_broker,
    service_env: dict[str, str],  # type: ignore[no-untyped-def]
) -> None:
    result = subprocess.run(
        [*YOKED, *args], env=service_env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert rabbitmq_broker.get_queue_message_counts("maintenance")[0] == 0


def test_cli_run_executes_synchronously_and_prints_the_result(
    clean_db: str, service_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [*YOKED, "run", "system.ping", "--payload", '{"note": "sync"}'],
        env=service_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"rows": 1}
    assert len(pings("sync")) == 1


def test_a_payload_that_reaches_a_worker_malformed_is_dead_lettered_not_retried(
    worker: Worker,
    rabbitmq_broker,  # type: ignore[no-untyped-def]
) -> None:
    job = JOBS["system.ping"]
    bad = job.actor.message_with_options(kwargs={"note": 5})  # bypasses send-time validation
    rabbitmq_broker.enqueue(bad)

    wait_for(lambda: rabbitmq_broker.get_queue_message_counts("maintenance")[2] == 1)
    assert rabbitmq_broker.get_queue_message_counts("maintenance")[1] == 0  # no delayed retry
    assert pings("") == []


def test_send_time_validation_names_the_field_and_never_quotes_the_value() -> None:
    with pytest.raises(PayloadError) as caught:
        JOBS["system.ping"].validate({"note": "x" * 500})
    assert "note" in str(caught.value)
    assert "xxxxx" not in str(caught.value)


def test_yoked_worker_process_consumes_and_stops_cleanly_on_sigterm(
    rabbitmq_broker,
    service_env: dict[str, str],  # type: ignore[no-untyped-def]
) -> None:
    process = subprocess.Popen(
        [*YOKED, "worker", "--processes", "1", "--threads", "2"],
        env=service_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        JOBS["system.ping"].send({"note": "worker-process"})
        rows = wait_for(lambda: pings("worker-process"), timeout=60)
        assert len(rows) == 1
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output


def test_cli_send_with_an_idempotency_key_runs_once(
    worker: Worker, service_env: dict[str, str]
) -> None:
    for _ in range(2):
        result = subprocess.run(
            [
                *YOKED,
                "send",
                "system.ping",
                "--payload",
                '{"note": "keyed"}',
                "--idempotency-key",
                "deploy-42",
            ],
            env=service_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    wait_for(lambda: pings("keyed"))
    JOBS["system.ping"].actor.broker.join(JOBS["system.ping"].queue, timeout=10_000)
    worker.join()
    assert len(pings("keyed")) == 1


DECLARE_ONLY = """
import logging, sys
import dramatiq.broker
from yoked_actors.actors import load_actors
from yoked_actors.errors import UnboundJobError
from yoked_actors.jobs import JOBS

load_actors()
assert dramatiq.broker.global_broker is None, "declaring jobs built a broker"
assert "yoked_actors.broker" not in sys.modules, "declaring jobs imported the broker module"
assert logging.getLogRecordFactory() is logging.LogRecord, "declaring jobs changed logging"
assert not logging.getLogger("dramatiq.worker.WorkerThread").filters
try:
    JOBS["system.ping"].send({"note": "unbound"})
except UnboundJobError as error:
    print(error)
else:
    raise AssertionError("an unbound job was sent")
"""


def test_declaring_jobs_builds_no_broker_and_an_unbound_send_says_what_to_do() -> None:
    result = subprocess.run(
        [sys.executable, "-c", DECLARE_ONLY], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "system.ping: the job is not bound to a broker" in result.stdout
    assert "setup_broker()" in result.stdout


def test_an_unbound_job_runs_synchronously() -> None:
    from pydantic import BaseModel

    from yoked_actors.errors import UnboundJobError
    from yoked_actors.jobs import Job

    class Numbers(BaseModel):
        a: int
        b: int

    declared = Job(name="test.add", queue="default", payload=Numbers, fn=lambda p: p.a + p.b)
    assert not declared.bound
    assert declared.run({"a": 1, "b": 2}) == 3
    with pytest.raises(UnboundJobError):
        declared.send({"a": 1, "b": 2})
