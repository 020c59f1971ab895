"""The transactional outbox: a message is published if and only if its producer's transaction
commits.

A producer adds a row to ``outbox`` inside its own transaction (from Python with
:func:`add_to_outbox`; from the TypeScript API with plain SQL, docs/reliability.md). A relay
(``yoked outbox relay``, one or more) publishes pending rows to RabbitMQ:

- it claims a batch of rows locked for it (rows another relay holds are skipped), publishes each
  row with publisher confirms while holding its lock, and marks it sent in the same transaction:
  two relays never publish the same row;
- if that transaction fails after a publish (the database went away), the row is published again
  later; the message carries the idempotency key ``outbox:<id>`` (unless the producer gave one),
  so the second delivery is skipped once the first has succeeded;
- a row naming an unknown actor or carrying an invalid payload is marked failed with the reason
  (``failed_at``, ``last_error``), never retried;
- while RabbitMQ is down it keeps the rows and retries with a capped exponential backoff;
- it wakes on ``NOTIFY yoked_outbox`` (a trigger on insert) and polls as a fallback.

The statements are in :mod:`yoked_actors.runs.store`; see docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from yoked_actors import db
from yoked_actors.errors import (
    BROKER_ERRORS,
    ERROR_MESSAGE_CHARS,
    PermanentError,
    describe_error,
)
from yoked_actors.jobs import get_job
from yoked_actors.models.runs import OutboxMessage
from yoked_actors.runs import store

logger = logging.getLogger(__name__)


def add_to_outbox(
    session: Session,
    actor: str,
    payload: Mapping[str, Any],
    *,
    idempotency_key: str | None = None,
) -> int | None:
    """Queue ``actor(payload)`` for publication when ``session``'s transaction commits.

    Validates the payload now (PayloadError / UnknownActorError, nothing added). Returns the
    outbox row id, or None if a row with this ``idempotency_key`` exists already.
    """
    data = get_job(actor).validate(payload).model_dump(mode="json")
    return store.insert_outbox(session, actor, data, idempotency_key)


@dataclass
class RelayResult:
    """What one pass did: rows published, rows failed for good, and a broker error if any."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    broker_error: str | None = None


def relay_once(batch_size: int = 100) -> RelayResult:
    """Claim up to ``batch_size`` pending rows, publish them, mark them; one transaction.

    Stops at the first broker error: rows already published in this pass are marked sent, the
    failing row records the error and is retried by a later pass.
    """
    result = RelayResult()
    with db.session_scope() as session:
        rows = store.claim_pending_outbox(session, batch_size)
        result.claimed = len(rows)
        for row in rows:
            if not _publish(row, result):
                break
    return result


def _publish(row: OutboxMessage, result: RelayResult) -> bool:
    """Publish one claimed row and record the outcome on it. False: the broker failed."""
    try:
        job = get_job(row.actor)
        job.validate(row.payload)
    except PermanentError as error:
        store.outbox_failed(row, describe_error(error)[1])
        result.failed += 1
        return True
    try:
        message = job.send(
            row.payload,
            idempotency_key=row.idempotency_key or f"outbox:{row.id}",
            outbox_id=row.id,
        )
    except BROKER_ERRORS as error:
        kind, reason = describe_error(error)
        store.outbox_send_failed(row, f"{kind}: {reason}"[:ERROR_MESSAGE_CHARS])
        result.broker_error = kind
        return False
    store.outbox_sent(row, message.message_id)
    result.sent += 1
    return True


def _listen_url() -> str:
    return db.get_engine().url.set(drivername="postgresql").render_as_string(hide_password=False)


class Relay:
    """The long-running relay loop (``yoked outbox relay``).

    Parameters:
      batch_size: rows claimed per transaction.
      poll_interval_s: longest wait without a notification (the fallback if NOTIFY is lost).
      max_backoff_s: cap of the wait after a broker or database error.
      sleep: injectable, for tests.
    """

    def __init__(
        self,
        *,
        batch_size: int = 100,
        poll_interval_s: float = 5.0,
        max_backoff_s: float = 30.0,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        self.stop_event = threading.Event()
        self._sleep = sleep or self.stop_event.wait
        self._listener: psycopg.Connection[Any] | None = None
        self.totals = RelayResult()

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> RelayResult:
        """Relay until :meth:`stop`; returns the totals."""
        failures = 0
        while not self.stop_event.is_set():
            try:
                result = relay_once(self.batch_size)
            except OperationalError as error:
                result = RelayResult(broker_error=None)
                logger.warning("outbox relay: database unavailable (%s)", describe_error(error)[0])
                failures += 1
                self._close_listener()
                self._sleep(self._backoff(failures))
                continue
            self.totals.sent += result.sent
            self.totals.failed += result.failed
            if result.sent or result.failed:
                logger.info("outbox relay: %d sent, %d failed", result.sent, result.failed)
            if result.broker_error:
                failures += 1
                logger.warning("outbox relay: broker unavailable (%s)", result.broker_error)
                self._sleep(self._backoff(failures))
                continue
            failures = 0
            if result.claimed < self.batch_size:
                self._wait_for_rows()
        self._close_listener()
        return self.totals

    def _backoff(self, failures: int) -> float:
        return min(self.max_backoff_s, 0.25 * 2 ** min(failures, 10))

    def _wait_for_rows(self) -> None:
        """Until a NOTIFY arrives, the poll interval passes, or stop() is called."""
        deadline = time.monotonic() + self.poll_interval_s
        while not self.stop_event.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            listener = self._listen()
            if listener is None:
                self._sleep(min(1.0, remaining))
                continue
            woken = False
            try:
                # Consumed to its end (stop_after=1): a generator abandoned mid-way would keep
                # the connection's lock and the connection could not be closed.
                for _ in listener.notifies(timeout=min(1.0, remaining), stop_after=1):
                    woken = True
            except psycopg.Error:
                self._close_listener()
            if woken:
                return

    def _listen(self) -> psycopg.Connection[Any] | None:
        if self._listener is None or self._listener.closed:
            self._listener = None
            try:
                listener = psycopg.connect(_listen_url(), autocommit=True, connect_timeout=5)
            except psycopg.Error:
                return None
            try:
                store.listen_outbox(listener)
            except psycopg.Error:
                listener.close()
                return None
            self._listener = listener
        return self._listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(psycopg.Error):
                self._listener.close()
            self._listener = None
