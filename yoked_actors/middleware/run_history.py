"""Run history middleware: one ``job_runs`` row per message, recorded without touching the
database on the hot path.

Each hook turns what happened to a message into a run event and hands it to the process's
:class:`~yoked_actors.runs.recorder.RunRecorder`, which writes events in batches from a
background thread. Guarantees:

- Every message sent or processed by a process with this middleware gets a row whose status
  follows queued -> running -> retrying -> succeeded / skipped / failed / dead, never backwards.
- A failed or dead-lettered run is recorded with its error type and a short, truncated reason;
  never the message's arguments in the error. Its kwargs are kept in ``job_runs.payload`` (our
  own database, never logs or Sentry) so that ``yoked runs replay`` can re-enqueue it.
- A message is acknowledged (or dead-lettered) only once its run's record is committed, so a
  process killed with SIGKILL at any instant loses no record: a message not yet acknowledged is
  redelivered and recorded by its next delivery. The service's broker
  (:class:`yoked_actors.broker.ServiceBroker`) defers the acknowledgement to the recorder's
  group commit; with any other broker ``before_ack`` / ``before_nack`` block until it, at most
  :data:`~yoked_actors.runs.recorder.ACK_WAIT_S` (then a WARNING says the record is still
  buffered).
- Runs still going when the worker shuts down (the grace period is over) are recorded as
  ``interrupted``: their messages return to the queue unacknowledged, with no retry consumed.

See docs/reliability.md.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import dramatiq
from dramatiq import Broker, Middleware

from yoked_actors.errors import ERROR_MESSAGE_CHARS, PermanentError, describe_error
from yoked_actors.runs.current import CURRENT
from yoked_actors.runs.envelope import RecordingJSONEncoder
from yoked_actors.runs.events import REPLAYABLE, STATUS_RANK, keepable_payload
from yoked_actors.runs.recorder import RECORDER, RunRecorder

logger = logging.getLogger(__name__)


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
        # Once the job threads have stopped (or the grace period is over), so their last
        # records are in this final flush (and before DatabaseLifecycle, earlier in the stack,
        # disposes the pool). A job still running is abandoned: its message, unacknowledged,
        # returns to the queue when the connection closes, and its run is "interrupted".
        if self.enabled:
            for message_id, build in self.recorder.in_flight():
                event = build()
                event.update(
                    status="interrupted",
                    status_rank=STATUS_RANK["interrupted"],
                    error_message="worker shut down before the job finished; requeued",
                )
                self.recorder.record(message_id, event)
                self.recorder.finished(message_id)
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
        CURRENT.run = (message.message_id, attempt, started)
        CURRENT.skip_reason = None

        def running() -> dict[str, Any]:
            event = self._base(message, "running", attempt)
            event["started_at"] = started
            return event

        self.recorder.started(message.message_id, started, running)

    def _finish(
        self, message: Any, status: str, error: BaseException | None, reason: str | None = None
    ) -> None:
        run = CURRENT.run
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
            event["payload"] = keepable_payload(message.kwargs, message.args)
        self.recorder.record(message.message_id, event)
        self.recorder.finished(message.message_id)
        CURRENT.run = None
        CURRENT.finished = message.message_id

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
            reason = CURRENT.skip_reason
            self._finish(message, "skipped" if reason else "succeeded", None, reason)
        elif message.failed:
            permanent = isinstance(exception, PermanentError)
            self._finish(message, "failed" if permanent else "dead", exception)
        else:
            self._finish(message, "retrying", exception)

    def after_skip_message(self, broker: Broker, message: Any) -> None:
        if self.enabled:
            reason = CURRENT.skip_reason or "skipped by middleware (max_age)"
            self._finish(message, "skipped", None, reason)

    def _wait_committed(self, message: Any, what: str) -> None:
        if not self.recorder.wait_committed(message.message_id):
            logger.warning(
                "run history: %s %s before its record was committed (database unreachable); "
                "the record stays buffered",
                what,
                message.message_id,
            )

    def before_ack(self, broker: Broker, message: Any) -> None:
        # Acknowledge only what is on record: a SIGKILL before this point redelivers the
        # message, after it the row is committed (see the module docstring). The service's
        # broker (broker.ServiceBroker) defers the acknowledgement itself, without blocking
        # this worker thread; any other broker waits here.
        if self.enabled and not getattr(broker, "acks_after_commit", False):
            self._wait_committed(message, "acknowledging")

    def before_nack(self, broker: Broker, message: Any) -> None:
        # A dead-lettered run's record is the one an operator needs (to see why, to replay).
        if self.enabled and not getattr(broker, "acks_after_commit", False):
            self._wait_committed(message, "dead-lettering")

    def before_consumer_thread_shutdown(self, broker: Broker, thread: Any) -> None:
        # The consumer is about to be closed: send the acknowledgements still deferred now
        # (its close waits for queued acknowledgements), or their messages run again.
        if self.enabled and self.recorder.deferred_count():
            try:
                self.recorder.flush()
            except Exception as error:
                logger.warning(
                    "run history: flush at shutdown failed (%s)", describe_error(error)[0]
                )

    def after_nack(self, broker: Broker, message: Any) -> None:
        # Normally recorded by after_process_message just before; a message for an unknown
        # actor is failed by the consumer itself, with no other hook.
        if self.enabled and CURRENT.finished != message.message_id:
            error = getattr(message, "_exception", None)
            self._finish(message, "failed", error, None if error else "rejected")
