"""Run history: one ``job_runs`` row per message, written off the hot path.

A hook never talks to the database: it merges the event into an in-memory buffer keyed by
message id, and a background thread flushes the buffer every :data:`FLUSH_INTERVAL_S` or
:data:`FLUSH_ROWS` rows with one multi-row upsert. A run that lasts more than
:data:`RUNNING_AFTER_S` is written as "running" while it runs; a shorter one is written once,
finished. The upsert only moves a row forwards: events are ordered by (attempt, status rank), so
a batch flushed late, by another process, never regresses a row (see :data:`STATUS_RANK`).

Guarantees and limits:
- A failed or dead-lettered run is recorded with its error type and a short, truncated reason;
  never the message's arguments in the error. Its kwargs are kept in ``job_runs.payload`` (our
  own database, never logs or Sentry) so that ``yoked runs replay`` can re-enqueue it.
- While PostgreSQL is down the buffer keeps the events and retries; terminal records (failed,
  dead) are kept before anything else when the buffer is full.
- A failed or dead run is flushed before its message is dead-lettered (``before_nack``), so
  its record survives a SIGKILL that follows.
- A process killed with SIGKILL loses its other unflushed events (at most the last flush
  interval): a short run acknowledged just before the kill may have no row, or keep an earlier
  status (the messages and the jobs' effects are not affected).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import dramatiq
from dramatiq import Broker, Middleware
from dramatiq.encoder import JSONEncoder
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from yoked_actors import db
from yoked_actors.errors import PermanentError

logger = logging.getLogger(__name__)

#: Order of the statuses within one attempt; (attempts, rank) only ever grows for a row.
STATUS_RANK = {
    "queued": 0,
    "running": 1,
    "retrying": 2,
    "succeeded": 3,
    "skipped": 3,
    "failed": 3,  # permanent error: dead-lettered at once, not retried
    "dead": 3,  # retries exhausted: dead-lettered
}
TERMINAL = frozenset({"succeeded", "skipped", "failed", "dead"})
#: Statuses whose payload is kept so that the run can be replayed.
REPLAYABLE = frozenset({"failed", "dead"})

FLUSH_INTERVAL_S = 0.2
#: A run shows as "running" once it has run this long (shorter ones are written once, finished).
RUNNING_AFTER_S = 1.0
FLUSH_ROWS = 500
#: Events kept while the database is unreachable; past this, only terminal ones are accepted.
MAX_PENDING = 100_000
ERROR_MESSAGE_CHARS = 300
#: A payload bigger than this (as JSON) is not kept: such a run cannot be replayed.
MAX_KEPT_PAYLOAD_BYTES = 64 * 1024

_COLUMNS = {
    "message_id": "text",
    "actor": "text",
    "queue": "text",
    "status": "text",
    "status_rank": "smallint",
    "attempts": "int",
    "enqueued_at": "float8",  # epoch seconds: converted by the database, not per row in Python
    "started_at": "float8",
    "finished_at": "float8",
    "duration_ms": "int",
    "error_type": "text",
    "error_message": "text",
    "idempotency_key": "text",
    "schedule_fire": "text",
    "replay_of": "text",
    "payload": "jsonb",
}
_MERGED = [c for c in _COLUMNS if c not in ("message_id", "status", "status_rank", "attempts")]
_NEWER = "(EXCLUDED.attempts, EXCLUDED.status_rank) >= (r.attempts, r.status_rank)"


def _merge_clause(column: str) -> str:
    if column == "enqueued_at":
        return "enqueued_at = COALESCE(r.enqueued_at, EXCLUDED.enqueued_at)"
    return (
        f"{column} = CASE WHEN {_NEWER} THEN COALESCE(EXCLUDED.{column}, r.{column}) "
        f"ELSE COALESCE(r.{column}, EXCLUDED.{column}) END"
    )


def _select(column: str, kind: str) -> str:
    if kind == "float8":
        return f"to_timestamp({column})"
    if column in ("attempts", "status_rank"):
        return f"COALESCE({column}, 0)"
    return column


#: One statement for a whole batch: the rows travel as a single JSON array parameter.
UPSERT = text(
    f"""
    INSERT INTO job_runs AS r ({", ".join(_COLUMNS)}, updated_at)
    SELECT {", ".join(_select(c, kind) for c, kind in _COLUMNS.items())}, now()
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
        AS x({", ".join(f"{name} {kind}" for name, kind in _COLUMNS.items())})
    ON CONFLICT (message_id) DO UPDATE SET
        status = CASE WHEN {_NEWER} THEN EXCLUDED.status ELSE r.status END,
        status_rank = CASE WHEN {_NEWER} THEN EXCLUDED.status_rank ELSE r.status_rank END,
        attempts = GREATEST(r.attempts, EXCLUDED.attempts),
        {", ".join(_merge_clause(c) for c in _MERGED)},
        updated_at = now()
    """
)


def _order(event: Mapping[str, Any]) -> tuple[int, int]:
    return (event.get("attempts") or 0, event["status_rank"])


def merge_events(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Two events of one message as one: the later status wins, no known field is lost.

    Mirrors the upsert, so merging in memory first never changes what lands in the table.
    """
    first, second = (old, new) if _order(new) >= _order(old) else (new, old)
    merged = dict(first)
    merged.update({k: v for k, v in second.items() if v is not None})
    if old.get("enqueued_at") and new.get("enqueued_at"):
        merged["enqueued_at"] = min(old["enqueued_at"], new["enqueued_at"])
    return merged


def describe_error(error: BaseException) -> tuple[str, str]:
    """(type, short reason) of an exception, fit to store: one line, truncated.

    SQLAlchemy errors quote the statement and its parameters (which may hold personal data):
    only the driver's first line is kept.
    """
    kind = type(error).__name__
    if isinstance(error, StatementError) and error.orig is not None:
        kind = f"{kind}({type(error.orig).__name__})"
        reason = str(error.orig)
    else:
        reason = str(error)
    reason = (reason.strip().splitlines() or [""])[0]
    return kind, reason[:ERROR_MESSAGE_CHARS]


class RunRecorder:
    """The per-process buffer of run events and the thread that flushes it.

    ``record`` is cheap (a dict merge under a lock); ``flush`` writes everything pending in one
    statement and keeps the events if the write fails.
    """

    def __init__(
        self,
        *,
        interval_s: float = FLUSH_INTERVAL_S,
        batch_rows: int = FLUSH_ROWS,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.interval_s = interval_s
        self.batch_rows = batch_rows
        self.max_pending = max_pending
        self.dropped = 0
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._pending: dict[str, dict[str, Any]] = {}
        #: Runs started and not finished, with their start time: written as "running" only
        #: once they have run for RUNNING_AFTER_S, so a short job costs one row write, not two,
        #: and a process killed right after acknowledging short jobs leaves no stale "running".
        self._in_flight: dict[str, tuple[float, Callable[[], dict[str, Any]]]] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._exit_hook = False

    def started(
        self, message_id: str, started_at: float, event: Callable[[], dict[str, Any]]
    ) -> None:
        """A run started; ``event()`` builds its "running" event if a flush finds it going."""
        if self._pid != os.getpid():
            self._reset()
        self._in_flight[message_id] = (started_at, event)
        if self._thread is None:
            self._start()

    def finished(self, message_id: str) -> None:
        self._in_flight.pop(message_id, None)

    def record(self, message_id: str, event: dict[str, Any]) -> None:
        """Merge one event into the buffer; the flusher thread writes it soon."""
        if self._pid != os.getpid():  # forked: the parent's buffer and thread are not ours
            self._reset()
        with self._lock:
            existing = self._pending.get(message_id)
            if existing is None:
                if len(self._pending) >= self.max_pending and event["status"] not in TERMINAL:
                    self.dropped += 1
                    return
                event["message_id"] = message_id
                self._pending[message_id] = event
            else:
                self._pending[message_id] = merge_events(existing, event)
            size = len(self._pending)
        if self._thread is None:
            self._start()
        if size >= self.batch_rows:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            # Each thread has its own stop flag: after close(), a later event starts a new
            # thread (a process whose Worker stops and starts again, tests).
            self._stop = stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(stop,), name="run-history-flusher", daemon=True
            )
            self._thread.start()
            if not self._exit_hook:
                atexit.register(self.close)
                self._exit_hook = True

    def _run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            self._wake.wait(self.interval_s if failures == 0 else min(5.0, 0.2 * 2**failures))
            self._wake.clear()
            try:
                self.flush()
                failures = 0
            except Exception as error:
                failures = min(failures + 1, 5)
                logger.warning(
                    "run history: flush failed (%s), %d events kept for the next try",
                    describe_error(error)[0],
                    self.pending_count(),
                )

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write every pending event now; returns how many rows were written.

        If the database is unreachable the events go back into the buffer (merged with any
        newer ones); if it refuses the batch itself (a constraint, a bad value: retrying cannot
        help) the batch is dropped and counted in ``dropped``, so one bad event never blocks
        the history. Either way the error is raised.
        """
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, {}
            long_ago = time.time() - RUNNING_AFTER_S
            for message_id, (started_at, build) in list(self._in_flight.items()):
                if started_at > long_ago:
                    continue
                event = build()
                event["message_id"] = message_id
                batch[message_id] = (
                    event if message_id not in batch else merge_events(event, batch[message_id])
                )
            if not batch:
                return 0
            try:
                rows = json.dumps(list(batch.values()), default=str)
                with db.get_engine().begin() as connection:
                    connection.execute(UPSERT, {"rows": rows})
            except (sa_exc.IntegrityError, sa_exc.DataError, sa_exc.ProgrammingError):
                self.dropped += len(batch)
                raise
            except BaseException:
                with self._lock:
                    for message_id, event in batch.items():
                        newer = self._pending.get(message_id)
                        self._pending[message_id] = (
                            event if newer is None else merge_events(event, newer)
                        )
                raise
            return len(batch)

    def close(self) -> None:
        """Stop the flusher thread and flush what is left (worker shutdown, process exit).

        Recording again afterwards starts a new flusher thread.
        """
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        try:
            self.flush()
        except Exception as error:
            logger.warning(
                "run history: final flush failed (%s), %d events lost",
                describe_error(error)[0],
                self.pending_count(),
            )


#: The process's recorder, shared by every RunHistory middleware in it.
RECORDER = RunRecorder()

_current = threading.local()


def mark_skipped(reason: str) -> None:
    """Record the current run as skipped (with ``reason``) instead of succeeded.

    Called by the idempotency helpers when a job finds its work already done.
    """
    _current.skip_reason = reason


class RecordingJSONEncoder(JSONEncoder):
    """Dramatiq's JSON encoder, plus: a body that is not a valid message envelope is recorded
    in the run history as failed (with why) before Dramatiq dead-letters it.

    The error raised names what is wrong, never the body (Dramatiq's own quotes the body, and
    logs it).
    """

    REQUIRED = {
        "queue_name": str,
        "actor_name": str,
        "args": list,
        "kwargs": dict,
        "options": dict,
        "message_id": str,
        "message_timestamp": int,
    }

    def __init__(self, recorder: RunRecorder) -> None:
        self.recorder = recorder

    def decode(self, data: bytes) -> Any:
        try:
            fields = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            self._reject(None, "body is not UTF-8 text")
        except json.JSONDecodeError as error:
            self._reject(None, f"body is not JSON: {error.msg} at column {error.colno}")
        if not isinstance(fields, dict):
            self._reject(None, f"body is a JSON {type(fields).__name__}, not an object")
        problems = [
            f"{name} must be {kind.__name__}"
            for name, kind in self.REQUIRED.items()
            if not isinstance(fields.get(name), kind) or isinstance(fields.get(name), bool)
        ]
        unknown = sorted(set(fields) - set(self.REQUIRED))
        if unknown:
            problems.append(f"unknown fields {', '.join(unknown)}")
        if problems:
            self._reject(fields, "; ".join(problems))
        return fields

    def _reject(self, fields: Mapping[str, Any] | None, reason: str) -> Any:
        fields = fields or {}

        def text_field(name: str) -> str:
            value = fields.get(name)
            return value[:200] if isinstance(value, str) and value else "?"

        message_id = fields.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            message_id = f"undecodable-{uuid.uuid4()}"
        self.recorder.record(
            message_id[:200],
            {
                "actor": text_field("actor_name"),
                "queue": text_field("queue_name"),
                "status": "failed",
                "status_rank": STATUS_RANK["failed"],
                "attempts": 1,
                "finished_at": time.time(),
                "error_type": "DecodeError",
                "error_message": f"malformed message: {reason}"[:ERROR_MESSAGE_CHARS],
            },
        )
        raise ValueError(f"malformed message: {reason}")


class RunHistory(Middleware):
    """Records every message's life in ``job_runs`` (see the module docstring).

    Placement: before ``Retries`` in the stack, so that its ``after_process_message`` (after-hooks
    run in reverse order) sees whether Retries failed the message or scheduled another attempt.

    Parameters:
      recorder: the buffer to write to (default: the process's :data:`RECORDER`).
      enabled: False records nothing (processes without a database: stub-broker unit tests).
    """

    def __init__(self, *, recorder: RunRecorder | None = None, enabled: bool = True) -> None:
        self.recorder = recorder or RECORDER
        self.enabled = enabled

    def after_process_boot(self, broker: Broker) -> None:
        if self.enabled:
            dramatiq.set_encoder(RecordingJSONEncoder(self.recorder))

    def after_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        # Once the job threads have stopped, so their last records are in this final flush
        # (and before DatabaseLifecycle, earlier in the stack, disposes the pool).
        if self.enabled:
            self.recorder.close()

    def _base(self, message: Any, status: str, attempts: int) -> dict[str, Any]:
        options = message.options
        return {
            "actor": message.actor_name,
            "queue": message.queue_name.removesuffix(".DQ"),
            "status": status,
            "status_rank": STATUS_RANK[status],
            "attempts": attempts,
            "enqueued_at": message.message_timestamp / 1000,
            "idempotency_key": options.get("idempotency_key"),
            "schedule_fire": options.get("schedule_fire"),
            "replay_of": options.get("replay_of"),
        }

    def after_enqueue(self, broker: Broker, message: Any, delay: int | None) -> None:
        # A retry is re-enqueued by Retries (options["retries"] > 0) and already shows as
        # "retrying". A delayed message moved from .DQ to its queue records "queued" again,
        # which the upsert ignores once the run has started.
        if self.enabled and not message.options.get("retries"):
            self.recorder.record(message.message_id, self._base(message, "queued", 0))

    def before_process_message(self, broker: Broker, message: Any) -> None:
        if not self.enabled:
            return
        attempt = message.options.get("retries", 0) + 1
        started = time.time()
        _current.run = (message.message_id, attempt, started)
        _current.skip_reason = None

        def running() -> dict[str, Any]:
            event = self._base(message, "running", attempt)
            event["started_at"] = started
            return event

        self.recorder.started(message.message_id, started, running)

    def _finish(
        self, message: Any, status: str, error: BaseException | None, reason: str | None = None
    ) -> None:
        run = getattr(_current, "run", None)
        if run is not None and run[0] == message.message_id:
            _, attempt, started = run
        else:
            attempt, started = message.options.get("retries", 0) + 1, None
        finished = time.time()
        event = self._base(message, status, attempt)
        event["finished_at"] = finished
        if started is not None:
            event["started_at"] = started
            event["duration_ms"] = int((finished - started) * 1000)
        if error is not None:
            event["error_type"], event["error_message"] = describe_error(error)
        elif reason:
            event["error_message"] = reason[:ERROR_MESSAGE_CHARS]
        if status in REPLAYABLE:
            event["payload"] = _keepable_payload(message.kwargs, message.args)
        self.recorder.record(message.message_id, event)
        self.recorder.finished(message.message_id)
        _current.run = None
        _current.finished = message.message_id

    def after_process_message(
        self,
        broker: Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if not self.enabled:
            return
        if exception is None:
            reason = getattr(_current, "skip_reason", None)
            self._finish(message, "skipped" if reason else "succeeded", None, reason)
        elif message.failed:
            permanent = isinstance(exception, PermanentError)
            self._finish(message, "failed" if permanent else "dead", exception)
        else:
            self._finish(message, "retrying", exception)

    def after_skip_message(self, broker: Broker, message: Any) -> None:
        if self.enabled:
            reason = getattr(_current, "skip_reason", None) or "skipped by middleware (max_age)"
            self._finish(message, "skipped", None, reason)

    def before_nack(self, broker: Broker, message: Any) -> None:
        # A dead-lettered run's record is the one an operator needs (to see why, to replay):
        # write it before the message leaves for the .XQ, not within the next flush interval
        # (a SIGKILL in between would lose it). Dead letters are rare; this wait is cheap.
        if not self.enabled:
            return
        try:
            self.recorder.flush()
        except Exception as error:
            logger.warning(
                "run history: dead letter %s kept for a later flush (%s)",
                message.message_id,
                describe_error(error)[0],
            )

    def after_nack(self, broker: Broker, message: Any) -> None:
        # Normally recorded by after_process_message just before; a message for an unknown
        # actor is failed by the consumer itself, with no other hook.
        if self.enabled and getattr(_current, "finished", None) != message.message_id:
            error = getattr(message, "_exception", None)
            self._finish(message, "failed", error, None if error else "rejected")


def _keepable_payload(kwargs: Any, args: Any) -> dict[str, Any] | None:
    """The message's arguments as stored for replay, or None if too big or not JSON."""
    try:
        kept = {"kwargs": kwargs, "args": list(args)} if args else {"kwargs": kwargs}
        if len(json.dumps(kept)) > MAX_KEPT_PAYLOAD_BYTES:
            return None
    except (TypeError, ValueError):
        return None
    return kept
