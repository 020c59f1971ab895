"""The scheduler loop: turns the cron table into messages, each (schedule, due time) once.

Guarantees (docs/scheduling.md has the full policy):

- **Once, whatever the number of schedulers.** A fire is claimed in the ledger and its message
  sent with publisher confirms *inside the claim's transaction*: the row commits only once
  RabbitMQ has the message; if the send fails the transaction rolls back, the fire stays
  unclaimed and is tried again on the next tick (by this or another scheduler) while it is
  within its catch-up window. Were the commit itself to fail after a send, the message carries
  the idempotency key ``schedule:<name>:<due>``, so a second send of the fire is skipped by the
  worker once the first has run.
- **Catch-up.** On start a scheduler looks back over each schedule's catch-up window and
  enqueues what is due and unrecorded (only the latest fire for ``catch_up_mode="latest"``; the
  others are recorded as missed, superseded). Fires older than the window and since the
  schedule's last ledger row are recorded as missed, never enqueued.
- **Injectable clock**: ``tick(now)`` is a pure step over the ledger and the broker; nothing
  waits on real time except :meth:`Scheduler.run`.
- Each message carries ``scheduled_at`` (the due instant, ISO) and ``catch_up_s``; the worker's
  :class:`~yoked_actors.middleware.scheduled_fires.ScheduledFires` records a fire that waited in the
  queue beyond its window as missed (WARNING), instead of periodiq's silent drop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Gauge
from sqlalchemy.exc import OperationalError

from yoked_actors import db
from yoked_actors.clock import Clock, utc_now
from yoked_actors.errors import BROKER_ERRORS, PermanentError, UnknownActorError
from yoked_actors.jobs import Job, get_job
from yoked_actors.schedules import Schedule
from yoked_actors.scheduling import store
from yoked_actors.scheduling.checkins import sentry_checkin
from yoked_actors.scheduling.cron import fires_between, next_fires
from yoked_actors.scheduling.table import all_schedules, fire_key

logger = logging.getLogger(__name__)

#: How far back a starting scheduler records missed fires of a schedule (an every-minute
#: schedule down for a month would otherwise write 43,000 rows).
MISSED_HISTORY = timedelta(days=7)
#: Fewest seconds between two "overdue" warnings.
OVERDUE_WARNING_EVERY = timedelta(seconds=60)

OLDEST_OVERDUE = Gauge(
    "yoked_scheduler_oldest_overdue_seconds",
    "Age of the oldest due fire this scheduler could not enqueue yet (0 = none).",
)


@dataclass
class TickResult:
    """What one tick did, by fire key."""

    enqueued: list[str] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)  # claimed by another scheduler
    missed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # to be retried next tick


class Scheduler:
    """One scheduler replica. Run as many as you like; each fire is enqueued once.

    Parameters:
      schedules: the table to run (default: :func:`all_schedules` of the declared actors).
      clock: returns the current instant (aware); injectable for tests.
      scheduler_id: recorded in the ledger (default: host:pid:random).
    """

    def __init__(
        self,
        schedules: Iterable[Schedule] | None = None,
        *,
        clock: Clock = utc_now,
        scheduler_id: str | None = None,
    ) -> None:
        if schedules is None:
            from yoked_actors.jobs import JOBS

            schedules = all_schedules(job.actor for job in JOBS.values())
        self.schedules: list[Schedule] = []
        for schedule in schedules:
            try:
                schedule.spec  # noqa: B018 (parse now: a bad entry is reported at start)
            except ValueError as error:
                logger.error("schedule %s is not valid and will not run: %s", schedule.name, error)
                continue
            self.schedules.append(schedule)
        self.clock = clock
        self.scheduler_id = scheduler_id or (
            f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        )
        self._since: dict[str, datetime] = {}
        self._next: dict[str, datetime | None] = {}
        self._overdue: dict[str, datetime] = {}
        self._unknown_reported: set[str] = set()
        self._last_overdue_warning: datetime | None = None

    # -- the step ---------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> TickResult:
        """Enqueue every fire due by ``now`` (default: the clock) and not yet in the ledger."""
        now = now or self.clock()
        result = TickResult()
        for schedule in self.schedules:
            try:
                if schedule.name not in self._since:
                    self._start(schedule, now, result)
                upcoming = self._next.get(schedule.name)
                if upcoming is not None and now < upcoming:
                    continue
                self._fire_due(schedule, now, result)
            except OperationalError:
                raise  # the database is away: no schedule can progress this tick
            except Exception:
                # One broken entry must not stop the others; it is tried again next tick.
                logger.exception("schedule %s: tick failed", schedule.name)
        self._report_overdue(now)
        return result

    def _start(self, schedule: Schedule, now: datetime, result: TickResult) -> None:
        """Where this scheduler starts looking for a schedule's fires: its catch-up window,
        after recording as missed what fell due before the window since the last ledger row."""
        window_start = now - schedule.catch_up
        with db.session_scope() as session:
            last = store.last_due_at(session, schedule.name)
            if last is not None and last < window_start:
                # The window includes its start (a fire exactly catch_up old still runs).
                lost = fires_between(
                    schedule.spec,
                    max(last, now - MISSED_HISTORY),
                    window_start - timedelta(microseconds=1),
                )
                self._record_missed(
                    session, schedule, lost, "scheduler not running at the due time", now, result
                )
        if last is None:
            # A schedule new to the ledger: its latest fire within the window is due (a deploy
            # at 03:20 runs a 03:17 job), nothing before it is recorded as missed.
            due = fires_between(schedule.spec, window_start - timedelta(microseconds=1), now)
            since = due[-1] - timedelta(microseconds=1) if due else now
        else:
            since = max(last, window_start - timedelta(microseconds=1))
        self._since[schedule.name] = since
        self._next[schedule.name] = None

    def _fire_due(self, schedule: Schedule, now: datetime, result: TickResult) -> None:
        due = fires_between(schedule.spec, self._since[schedule.name], now)
        to_enqueue = self._drop_unrunnable(schedule, due, now, result)
        first_failure: datetime | None = None
        for due_at in to_enqueue:
            if not self._fire(schedule, due_at, now, result) and first_failure is None:
                first_failure = due_at
        self._advance(schedule, now, first_failure)

    def _drop_unrunnable(
        self, schedule: Schedule, due: list[datetime], now: datetime, result: TickResult
    ) -> list[datetime]:
        """The due fires to enqueue now; the others (beyond the catch-up window, or superseded
        by a later fire in "latest" mode) are recorded as missed."""
        in_window = [d for d in due if now - d <= schedule.catch_up]
        too_late = [d for d in due if now - d > schedule.catch_up]
        superseded: list[datetime] = []
        if schedule.catch_up_mode == "latest" and len(in_window) > 1:
            superseded, in_window = in_window[:-1], in_window[-1:]
        if too_late or superseded:
            with db.session_scope() as session:
                self._record_missed(
                    session,
                    schedule,
                    too_late,
                    "not enqueued within the catch-up window",
                    now,
                    result,
                )
                self._record_missed(
                    session,
                    schedule,
                    superseded,
                    "superseded by a later fire (catch-up)",
                    now,
                    result,
                )
        return in_window

    def _advance(self, schedule: Schedule, now: datetime, first_failure: datetime | None) -> None:
        """Where the next tick looks from, and when this schedule is next due."""
        if first_failure is not None:
            # Look again from just before it next tick; the ledger drops what was enqueued.
            self._since[schedule.name] = first_failure - timedelta(microseconds=1)
            self._overdue[schedule.name] = first_failure
        else:
            self._since[schedule.name] = now
            self._overdue.pop(schedule.name, None)
        upcoming = next_fires(schedule.spec, self._since[schedule.name], 1)
        self._next[schedule.name] = upcoming[0] if upcoming else datetime.max.replace(tzinfo=UTC)

    def _fire(
        self, schedule: Schedule, due_at: datetime, now: datetime, result: TickResult
    ) -> bool:
        """Claim and enqueue one fire. False: it could not be enqueued now (retry later)."""
        key = fire_key(schedule.name, due_at)
        job = self._job_of(schedule, due_at, now, result)
        if job is None:
            return True
        try:
            message_id = self._claim_and_send(schedule, job, due_at, now)
        except PermanentError as error:  # the entry's payload does not fit its actor
            logger.error("schedule %s: %s", schedule.name, error)
            self._missed_now(schedule, due_at, f"{type(error).__name__}: {error}", now, result)
            return True
        except (*BROKER_ERRORS, OperationalError) as error:
            logger.warning(
                "schedule %s: fire %s not enqueued yet (%s); retrying",
                schedule.name,
                key,
                type(error).__name__,
            )
            result.failed.append(key)
            return False
        if message_id is None:
            result.taken.append(key)
            return True
        logger.info("schedule %s: enqueued fire %s as %s", schedule.name, key, message_id)
        result.enqueued.append(key)
        sentry_checkin(schedule, "ok")
        return True

    def _job_of(
        self, schedule: Schedule, due_at: datetime, now: datetime, result: TickResult
    ) -> Job[Any] | None:
        """The schedule's job; None (and the fire recorded as missed) if it is not declared."""
        try:
            return get_job(schedule.actor_name)
        except UnknownActorError:
            if schedule.name not in self._unknown_reported:
                self._unknown_reported.add(schedule.name)
                logger.error(
                    "schedule %s: actor %s is not declared; its fires are recorded as missed",
                    schedule.name,
                    schedule.actor_name,
                )
            self._missed_now(
                schedule, due_at, f"actor {schedule.actor_name} is not declared", now, result
            )
            return None

    def _claim_and_send(
        self, schedule: Schedule, job: Job[Any], due_at: datetime, now: datetime
    ) -> str | None:
        """Claim the fire and send its message in one transaction: the claim commits only once
        RabbitMQ has the message. Returns the message id; None if another scheduler has it."""
        key = fire_key(schedule.name, due_at)
        with db.session_scope() as session:
            if store.is_paused(session, schedule.name):  # recorded as paused, not enqueued
                store.record_paused(session, schedule, due_at, self.scheduler_id, now)
                return None
            if not store.claim(
                session,
                schedule=schedule.name,
                due_at=due_at,
                actor=schedule.actor_name,
                scheduler_id=self.scheduler_id,
                now=now,
            ):
                return None
            message = job.send(
                dict(schedule.payload),
                idempotency_key=f"schedule:{key}",
                scheduled_at=due_at.isoformat(),
                schedule_fire=key,
                catch_up_s=int(schedule.catch_up.total_seconds()),
            )
            store.mark_enqueued(
                session,
                schedule=schedule.name,
                due_at=due_at,
                message_id=message.message_id,
                enqueued_at=self.clock(),
            )
        return str(message.message_id)

    def _missed_now(
        self, schedule: Schedule, due_at: datetime, detail: str, now: datetime, result: TickResult
    ) -> None:
        with db.session_scope() as session:
            self._record_missed(session, schedule, [due_at], detail, now, result)

    def _record_missed(
        self,
        session: Any,
        schedule: Schedule,
        due_ats: list[datetime],
        detail: str,
        now: datetime,
        result: TickResult,
    ) -> None:
        if not due_ats:
            return
        new = store.record_missed(
            session,
            schedule=schedule.name,
            actor=schedule.actor_name,
            due_ats=due_ats,
            detail=detail,
            scheduler_id=self.scheduler_id,
            now=now,
        )
        if new:
            logger.warning(
                "schedule %s: %d fire(s) recorded as missed (%s), latest due %s",
                schedule.name,
                new,
                detail,
                due_ats[-1].isoformat(),
            )
            result.missed.extend(fire_key(schedule.name, d) for d in due_ats)
            sentry_checkin(schedule, "error")

    def _report_overdue(self, now: datetime) -> None:
        if not self._overdue:
            OLDEST_OVERDUE.set(0)
            return
        name, due_at = min(self._overdue.items(), key=lambda item: item[1])
        age = (now - due_at).total_seconds()
        OLDEST_OVERDUE.set(age)
        last = self._last_overdue_warning
        if last is None or now - last >= OVERDUE_WARNING_EVERY:
            self._last_overdue_warning = now
            logger.warning(
                "scheduler: oldest overdue fire %s is %.0f s late", fire_key(name, due_at), age
            )

    # -- the loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event, *, interval_s: float = 1.0) -> None:
        """Tick every ``interval_s`` until ``stop`` is set. A failing tick (database down) is
        logged and retried; the fires it could not enqueue stay due."""
        logger.info(
            "scheduler %s: %d schedules: %s",
            self.scheduler_id,
            len(self.schedules),
            ", ".join(f"{s.name} [{s.cron} {s.timezone}]" for s in self.schedules),
        )
        while not stop.is_set():
            try:
                self.tick()
            except OperationalError as error:
                logger.warning("scheduler: database unavailable (%s)", type(error).__name__)
            except Exception:
                logger.exception("scheduler: tick failed")
            stop.wait(interval_s)
