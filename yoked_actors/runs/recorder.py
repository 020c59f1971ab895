"""The run recorder: a per-process buffer of run events, written off the hot path.

Recording never talks to the database: an event is merged into an in-memory buffer keyed by
message id, and a background thread flushes the buffer every :data:`FLUSH_INTERVAL_S` or
:data:`FLUSH_ROWS` rows with one multi-row upsert (:func:`yoked_actors.runs.store.upsert_runs`).
A run that lasts more than :data:`RUNNING_AFTER_S` is written as "running" while it runs; a
shorter one is written once, finished. Events merge in memory exactly as the upsert merges
them in the table (:mod:`yoked_actors.runs.events`), so a row never moves backwards.

Guarantees and limits:
- While PostgreSQL is down the buffer keeps the events and retries (backoff up to 2 s); past
  :data:`MAX_PENDING` events only terminal ones (succeeded, skipped, failed, dead) are accepted.
- A batch the database refuses (a constraint, a bad value: retrying cannot help) is dropped and
  counted in ``dropped``, so one bad event never blocks the history.
- :meth:`RunRecorder.flush` can be called by anyone (the middleware does before a message is
  dead-lettered); :meth:`RunRecorder.close` flushes what is left at shutdown, and what it
  cannot write (database unreachable) is tried once more at process exit.
- Durable acknowledgement: a message is acknowledged only once its last event is committed, so
  a process killed with SIGKILL at any instant loses no record of an acknowledged message (an
  unacknowledged one is redelivered and recorded then). The service's consumer hands the
  acknowledgement to :meth:`RunRecorder.after_commit`, which the flusher calls right after the
  committing statement (group commit: the first waiting acknowledgement wakes the flusher,
  which gathers :data:`GATHER_S` more); other brokers block in
  :meth:`RunRecorder.wait_committed`, at most :data:`ACK_WAIT_S` (then the message is
  acknowledged with its event still buffered).
- After a fork, the child starts with an empty buffer and its own flusher thread.

See docs/reliability.md.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import exc as sa_exc

from yoked_actors import db
from yoked_actors.errors import describe_error
from yoked_actors.runs import store
from yoked_actors.runs.events import TERMINAL, merge_events

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.2
#: A run shows as "running" once it has run this long (shorter ones are written once, finished).
RUNNING_AFTER_S = 1.0
FLUSH_ROWS = 500
#: How long the flusher, woken by an acknowledgement waiting for its commit, gathers more.
GATHER_S = 0.003
#: Longest wait for a commit before a message is acknowledged anyway (database unreachable).
ACK_WAIT_S = 10.0
#: Events kept while the database is unreachable; past this, only terminal ones are accepted.
MAX_PENDING = 100_000

#: Errors by which the database refuses a batch itself: retrying the same batch cannot help.
REFUSED = (sa_exc.IntegrityError, sa_exc.DataError, sa_exc.ProgrammingError)


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
        #: Signalled under _lock whenever a batch is committed (or refused for good).
        self._committed_cond = threading.Condition(self._lock)
        #: Sequence number of the latest event recorded, and of the latest one committed.
        self._seq = 0
        self._committed = 0
        #: Message id -> sequence number of its latest event not yet committed.
        self._uncommitted: dict[str, int] = {}
        #: Acknowledgements deferred until their message's events are committed: (seq, ack).
        self._deferred: list[tuple[int, Callable[[], None]]] = []
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

    def in_flight(self) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
        """The runs started and not finished: (message id, builder of its "running" event)."""
        return [(message_id, build) for message_id, (_, build) in list(self._in_flight.items())]

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
            self._seq += 1
            self._uncommitted[message_id] = self._seq
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
                atexit.register(self._last_flush)
                self._exit_hook = True

    def _run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            if failures:  # the database is unreachable: back off, whoever is waiting
                stop.wait(min(2.0, 0.2 * 2**failures))
            elif self._wake.wait(self.interval_s):
                # Woken by a waiting acknowledgement: gather the runs finishing meanwhile
                # into the same statement (group commit).
                time.sleep(GATHER_S)
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

    def wait_committed(self, message_id: str, timeout_s: float = ACK_WAIT_S) -> bool:
        """Block until every event recorded for ``message_id`` is committed.

        Wakes the flusher at once (group commit: the threads waiting together share one
        statement). Returns False if ``timeout_s`` passed first (the events stay buffered).
        """
        if self._pid != os.getpid():
            return True
        deadline = time.monotonic() + timeout_s
        with self._lock:
            seq = self._uncommitted.get(message_id)
            if seq is None:
                return True
            if self._thread is None:
                self._lock.release()
                try:
                    self._start()
                finally:
                    self._lock.acquire()
            self._wake.set()
            while self._committed < seq:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._committed_cond.wait(min(left, 0.5))
                if self._committed < seq:
                    self._wake.set()
            return True

    def after_commit(self, message_id: str, ack: Callable[[], None]) -> bool:
        """Call ``ack()`` from the flusher once ``message_id``'s events are committed.

        Returns False (``ack`` not kept) when nothing of the message is waiting to be written:
        the caller acknowledges at once. The worker thread does not wait (group commit: the
        acknowledgements of every run in a batch go out right after its one statement).
        """
        if self._pid != os.getpid():
            return False
        with self._lock:
            seq = self._uncommitted.get(message_id)
            if seq is None:
                return False
            self._deferred.append((seq, ack))
            start = self._thread is None
        if start:
            self._start()
        if not self._wake.is_set():
            self._wake.set()
        return True

    def deferred_count(self) -> int:
        with self._lock:
            return len(self._deferred)

    def _mark_committed(self, upto: int) -> None:
        with self._lock:
            if upto > self._committed:
                self._committed = upto
            if self._uncommitted:
                self._uncommitted = {m: s for m, s in self._uncommitted.items() if s > upto}
            self._committed_cond.notify_all()
            due = [ack for seq, ack in self._deferred if seq <= upto]
            if due:
                self._deferred = [(seq, ack) for seq, ack in self._deferred if seq > upto]
        for ack in due:
            try:
                ack()
            except Exception as error:  # the connection is gone: RabbitMQ redelivers it
                logger.warning("run history: deferred acknowledgement failed (%s)", error)

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
            batch, upto = self._take_batch()
            if not batch:
                self._mark_committed(upto)
                return 0
            try:
                rows = json.dumps(list(batch.values()), default=str)
                with db.session_scope() as session:
                    store.upsert_runs(session, rows)
            except REFUSED:
                self.dropped += len(batch)
                self._mark_committed(upto)  # retrying cannot help: nobody should wait for it
                raise
            except BaseException:
                self._put_back(batch)
                raise
            self._mark_committed(upto)
            return len(batch)

    def _take_batch(self) -> tuple[dict[str, dict[str, Any]], int]:
        """Everything pending, plus a "running" event for each run going on for long enough,
        and the sequence number of the last event taken."""
        with self._lock:
            batch, self._pending = self._pending, {}
            upto = self._seq
        long_ago = time.time() - RUNNING_AFTER_S
        for message_id, (started_at, build) in list(self._in_flight.items()):
            if started_at > long_ago:
                continue
            event = build()
            event["message_id"] = message_id
            batch[message_id] = (
                event if message_id not in batch else merge_events(event, batch[message_id])
            )
        return batch, upto

    def _put_back(self, batch: dict[str, dict[str, Any]]) -> None:
        """Return an unwritten batch to the buffer, merged with events recorded meanwhile."""
        with self._lock:
            for message_id, event in batch.items():
                newer = self._pending.get(message_id)
                self._pending[message_id] = event if newer is None else merge_events(event, newer)

    def close(self) -> None:
        """Stop the flusher thread and flush what is left (worker shutdown).

        Recording again afterwards starts a new flusher thread. What this flush cannot write
        (database unreachable) is tried once more at process exit; a recorder closed with
        nothing left is not flushed again then, when its owner may have dropped the database.
        """
        if not self._flush_stopped("flush at close", "kept for a last try at exit"):
            return
        with self._lock:
            if self._exit_hook and self._thread is None and not self._pending:
                atexit.unregister(self._last_flush)
                self._exit_hook = False

    def _last_flush(self) -> None:
        """The exit hook: the last chance to write what is buffered."""
        self._flush_stopped("final flush", "lost")

    def _flush_stopped(self, what: str, unwritten: str) -> bool:
        """Stop the flusher thread, then flush; False (and a WARNING) if the flush failed."""
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
                "run history: %s failed (%s), %d events %s",
                what,
                describe_error(error)[0],
                self.pending_count(),
                unwritten,
            )
            return False
        return True


#: The process's recorder, shared by every RunHistory middleware in it.
RECORDER = RunRecorder()
