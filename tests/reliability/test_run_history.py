"""Run history, idempotency and the retry policy, through the real RabbitMQ broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from common_support import wait_until
from dramatiq import Worker
from reliability_support import effects, runs_by_id
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from yoked_actors import db
from yoked_actors.errors import PayloadError, describe_error
from yoked_actors.middleware.retry_policy import is_transient
from yoked_actors.runs.events import STATUS_RANK
from yoked_actors.runs.recorder import RunRecorder


@pytest.fixture
def new_recorder() -> Iterator[Callable[..., RunRecorder]]:
    """Recorders of the test's own, closed at its end: a flusher thread left running would
    hold pooled connections while a later fixture disposes the engine."""
    made: list[RunRecorder] = []

    def make(**options: float) -> RunRecorder:
        made.append(RunRecorder(**options))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for recorder in made:
        recorder.close()


def _status(message_id: str) -> str | None:
    row = runs_by_id().get(message_id)
    return row["status"] if row else None


def test_each_run_is_recorded_with_its_outcome(effect: Any, effect_worker: Worker) -> None:
    ok = effect.send({"key": "ok"})
    flaky = effect.send({"key": "flaky", "fail": "transient_once"})
    missing = effect.send({"key": "gone", "fail": "permanent"})

    wait_until(lambda: _status(ok.message_id) == "succeeded")
    wait_until(lambda: _status(flaky.message_id) == "succeeded")
    wait_until(lambda: _status(missing.message_id) == "failed")

    runs = runs_by_id()
    assert runs[ok.message_id]["attempts"] == 1
    assert runs[ok.message_id]["enqueued_at"] <= runs[ok.message_id]["started_at"]
    assert runs[ok.message_id]["duration_ms"] >= 0
    assert runs[ok.message_id]["payload"] is None  # kept for failed runs only
    # A transient error is retried, and the run keeps its last error.
    assert runs[flaky.message_id]["attempts"] == 2
    assert runs[flaky.message_id]["error_type"] == "OperationalError(ConnectionError)"
    # A permanent error is not retried; the reason and the payload (for replay) are kept.
    failed = runs[missing.message_id]
    assert failed["attempts"] == 1
    assert failed["error_type"] == "NotFoundError"
    assert failed["error_message"] == "thing gone does not exist"
    assert failed["payload"] == {"kwargs": {"key": "gone", "fail": "permanent"}}
    assert effects() == {"ok": 1, "flaky": 1}


def test_a_key_that_already_succeeded_is_skipped(effect: Any, effect_worker: Worker) -> None:
    first = effect.send({"key": "once"}, idempotency_key="order-7")
    wait_until(lambda: _status(first.message_id) == "succeeded")
    again = effect.send({"key": "once"}, idempotency_key="order-7")
    wait_until(lambda: _status(again.message_id) == "skipped")

    assert "already done" in runs_by_id()[again.message_id]["error_message"]
    assert effects() == {"once": 1}


def test_a_redelivered_message_changes_nothing(effect: Any, effect_worker: Worker) -> None:
    # The same message delivered again after its first delivery committed (as after a worker
    # killed before its ack): claim_once in the job's own transaction sees the first delivery's
    # mark and writes nothing. The second delivery is sent once the first is on record, so the
    # record's last word is the second delivery's (two deliveries racing may finish either way).
    message = effect.message({"key": "dup"})
    effect.actor.broker.enqueue(message)
    wait_until(lambda: _status(message.message_id) == "succeeded")
    effect.actor.broker.enqueue(message)
    wait_until(lambda: _status(message.message_id) == "skipped")
    assert effects() == {"dup": 1}


def test_out_of_order_flushes_never_move_a_run_backwards(
    clean_db: str, new_recorder: Callable[..., RunRecorder]
) -> None:
    recorder = new_recorder()
    base = {"actor": "a.b", "queue": "default", "enqueued_at": 1_700_000_000.0}

    def event(status: str, attempts: int, **extra: Any) -> dict[str, Any]:
        return {
            **base,
            "status": status,
            "status_rank": STATUS_RANK[status],
            "attempts": attempts,
            **extra,
        }

    recorder.record("m1", event("succeeded", 2, finished_at=1_700_000_002.0, duration_ms=5))
    recorder.flush()
    # Late events of earlier attempts, flushed by another process afterwards.
    recorder.record("m1", event("running", 2, started_at=1_700_000_001.0))
    recorder.record("m2", event("queued", 0))
    recorder.flush()
    recorder.record("m1", event("retrying", 1, error_type="OperationalError"))
    recorder.flush()

    row = runs_by_id()["m1"]
    assert (row["status"], row["attempts"], row["duration_ms"]) == ("succeeded", 2, 5)
    assert row["started_at"] is not None  # filled in by the late event, status untouched
    assert runs_by_id()["m2"]["status"] == "queued"


def test_transient_and_permanent_errors_are_told_apart() -> None:
    outage = sa_exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert is_transient(outage)
    assert is_transient(TimeoutError())
    assert not is_transient(PayloadError("x: field required"))
    assert not is_transient(KeyError("bug"))


def test_stored_errors_never_quote_sql_parameters() -> None:
    # What a failed INSERT of a chat message raises: the SQL and its parameters (the text).
    error = sa_exc.IntegrityError(
        "INSERT INTO messages (content) VALUES (%(content)s)",
        {"content": "call me at +1 555 0100"},
        Exception('duplicate key value violates unique constraint "pk_messages"\nDETAIL: Key'),
    )
    kind, reason = describe_error(error)
    assert kind == "IntegrityError(Exception)"
    assert reason == 'duplicate key value violates unique constraint "pk_messages"'
    assert "555" not in reason and "INSERT" not in reason


def test_a_long_run_shows_as_running_and_a_short_one_is_written_once(
    clean_db: str, new_recorder: Callable[..., RunRecorder]
) -> None:
    recorder = new_recorder()
    now = time.time()

    def running(message_id: str, started: float) -> Any:
        return lambda: {
            "actor": "a.b",
            "queue": "default",
            "status": "running",
            "status_rank": STATUS_RANK["running"],
            "attempts": 1,
            "started_at": started,
        }

    recorder.started("long", now - 5, running("long", now - 5))
    recorder.started("short", now, running("short", now))
    recorder.flush()
    assert {k: v["status"] for k, v in runs_by_id().items()} == {"long": "running"}
    recorder.finished("long")
    recorder.flush()
    assert runs_by_id()["long"]["status"] == "running"  # until its terminal event lands


def test_recording_after_a_worker_stopped_starts_a_new_flusher(
    clean_db: str, new_recorder: Callable[..., RunRecorder]
) -> None:
    # A process whose Worker stops (before_worker_shutdown closes the recorder) and which goes
    # on sending or running jobs must not buffer their runs forever.
    recorder = new_recorder(interval_s=0.05)
    event = {"actor": "a.b", "queue": "default", "status": "queued", "status_rank": 0}
    recorder.record("before", dict(event))
    recorder.close()
    recorder.record("after", dict(event))

    def stored() -> set[str]:
        with db.get_engine().connect() as connection:
            return set(connection.execute(text("SELECT message_id FROM job_runs")).scalars())

    wait_until(lambda: stored() == {"before", "after"}, timeout=5)
    recorder.close()


def test_an_event_the_database_refuses_is_dropped_not_retried_forever(
    clean_db: str, new_recorder: Callable[..., RunRecorder]
) -> None:
    recorder = new_recorder()
    recorder.record("bad", {"actor": None, "queue": "q", "status": "queued", "status_rank": 0})
    with pytest.raises(sa_exc.IntegrityError):
        recorder.flush()
    recorder.record("good", {"actor": "a.b", "queue": "q", "status": "queued", "status_rank": 0})
    assert recorder.flush() == 1
    assert recorder.dropped == 1
    assert set(runs_by_id()) == {"good"}


#: A process that closes a recorder, then exits; argv: the database URL, one of a database that
#: does not exist (unreachable), and the case.
_CLOSE_THEN_EXIT = """
import sys, time
from yoked_actors import db
from yoked_actors.runs.events import STATUS_RANK
from yoked_actors.runs.recorder import RunRecorder

url, unreachable, case = sys.argv[1:]
db.configure(url=url)
recorder = RunRecorder(interval_s=60)  # only close() and the exit hook write
if case == "left-in-flight":
    # A run started and never finished (a test's leftover) when its owner closes the recorder,
    # then drops the database before the process exits (what the test session does).
    started = time.time() - 5
    recorder.started("left-in-flight", started, lambda: {
        "actor": "a.b", "queue": "q", "status": "running",
        "status_rank": STATUS_RANK["running"], "attempts": 1, "started_at": started,
    })
    recorder.close()
    db.configure(url=unreachable)
else:
    # The database is unreachable when the worker shuts down, and back before the process exits.
    queued = {"actor": "a.b", "queue": "q", "status": "queued", "status_rank": 0}
    recorder.record("at-close", queued)
    db.configure(url=unreachable)
    recorder.close()
    db.configure(url=url)
"""


@pytest.mark.parametrize("case", ["left-in-flight", "outage-at-close"])
def test_closing_the_recorder_loses_nothing_and_reports_no_false_loss(
    clean_db: str, case: str
) -> None:
    unreachable = clean_db.rsplit("/", 1)[0] + f"/yoked_gone_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": clean_db, "YOKED_ENV": "test", "METRICS_PORT": "0"}
    done = subprocess.run(
        [sys.executable, "-c", _CLOSE_THEN_EXIT, clean_db, unreachable, case],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    runs = runs_by_id()
    if case == "left-in-flight":
        # Written once, by close(); the exit hook does not flush it again into a dropped database.
        assert runs["left-in-flight"]["status"] == "running"
        assert "lost" not in done.stderr, done.stderr
    else:
        # close() could not write it; the exit hook did, and nothing claimed it was lost.
        assert runs["at-close"]["status"] == "queued"
        assert "lost" not in done.stderr, done.stderr
        assert "kept for a last try at exit" in done.stderr
