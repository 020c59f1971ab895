"""Scheduled fires, worker side: a scheduled message that waited too long is recorded as
missed, not lost silently.

Replaces periodiq's middleware, which drops at INFO level any scheduled message older than
``skip_delay`` (30 s by default), so a busy worker pool silently loses scheduled runs. Here the
window is the fire's own catch-up window, and a late fire is logged at WARNING, written to the
fire ledger as ``missed`` and to the run history as ``skipped``. See docs/scheduling.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dramatiq import Broker
from dramatiq.middleware import SkipMessage
from periodiq import PeriodiqMiddleware
from sqlalchemy.exc import SQLAlchemyError

from yoked_actors import db
from yoked_actors.clock import Clock, utc_now
from yoked_actors.runs.current import mark_skipped
from yoked_actors.scheduling import store

logger = logging.getLogger(__name__)


class ScheduledFires(PeriodiqMiddleware):
    """Runs a scheduled message unless it waited longer than its fire's catch-up window.

    Reads the message options the scheduler sets: ``scheduled_at`` (the due instant, ISO),
    ``catch_up_s`` (the window) and ``schedule_fire`` (``<schedule>@<due>``). A message started
    later than ``scheduled_at + catch_up_s`` is skipped with a WARNING, recorded as ``missed``
    in the fire ledger (with its lateness) and as skipped in the run history. Any other
    message runs: manual sends, and retries (a fire that started in time and failed is retried
    by its retry policy whatever the delay). Keeps periodiq's ``periodic`` actor option.

    Parameters:
      clock: returns the current instant (aware); injectable for tests.
    """

    def __init__(self, *, clock: Clock = utc_now) -> None:
        super().__init__(skip_delay=0)
        self.clock = clock

    def before_process_message(self, broker: Broker, message: Any) -> None:
        late = self._late_fire(message.options)
        if late is None:
            return
        due_at, window_s, lateness_s = late
        fire = str(message.options.get("schedule_fire") or "")
        detail = f"started {lateness_s:.0f} s after its due time (window {window_s:.0f} s)"
        logger.warning(
            "scheduled message %s (%s, fire %s) %s: recorded as missed, not run",
            message.message_id,
            message.actor_name,
            fire or "?",
            detail,
        )
        self._record_missed(fire, due_at, message.actor_name, lateness_s, detail)
        mark_skipped(f"missed: {detail}")
        raise SkipMessage(detail)

    def _late_fire(self, options: Mapping[str, Any]) -> tuple[datetime, float, float] | None:
        """(due instant, window s, lateness s) of a scheduled fire that started beyond its
        window; None for any message that should run."""
        scheduled_at, window = options.get("scheduled_at"), options.get("catch_up_s")
        if not scheduled_at or window is None or options.get("retries"):
            return None  # not a scheduled fire, or a retry of one that did start in time
        try:
            due_at = datetime.fromisoformat(scheduled_at)
            window_s = float(window)
        except (TypeError, ValueError):
            return None  # not one of ours (a periodiq-formatted date): run it
        if due_at.tzinfo is None:
            due_at = due_at.replace(tzinfo=UTC)
        lateness_s = (self.clock() - due_at).total_seconds()
        if lateness_s <= window_s:
            return None
        return due_at, window_s, lateness_s

    def _record_missed(
        self, fire: str, due_at: datetime, actor: str, lateness_s: float, detail: str
    ) -> None:
        """Write the fire to the ledger as missed; a database error is logged, not raised."""
        schedule = fire.rpartition("@")[0]
        if not schedule:
            return
        try:
            with db.session_scope() as session:
                store.mark_late(
                    session,
                    schedule=schedule,
                    due_at=due_at,
                    actor=actor,
                    lateness_ms=int(lateness_s * 1000),
                    detail=detail,
                    now=self.clock(),
                )
        except SQLAlchemyError as error:
            logger.warning("could not record missed fire %s (%s)", fire, type(error).__name__)
