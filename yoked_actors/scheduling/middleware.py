"""Worker side of scheduling: a scheduled message that waited too long is recorded, not lost
silently.

Replaces periodiq's middleware, which drops at INFO level any scheduled message older than
``skip_delay`` (30 s by default), so a busy worker pool silently loses scheduled runs.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from dramatiq import Broker
from dramatiq.middleware import SkipMessage
from periodiq import PeriodiqMiddleware
from sqlalchemy.exc import SQLAlchemyError

from yoked_actors import db
from yoked_actors.middleware.run_history import mark_skipped
from yoked_actors.scheduling import ledger

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

    def __init__(self, *, clock: Any = None) -> None:
        super().__init__(skip_delay=0)
        self.clock = clock or (lambda: datetime.now(UTC))

    def before_process_message(self, broker: Broker, message: Any) -> None:
        options = message.options
        scheduled_at, window = options.get("scheduled_at"), options.get("catch_up_s")
        if not scheduled_at or window is None or options.get("retries"):
            return  # not a scheduled fire, or a retry of one that did start in time
        try:
            due_at = datetime.fromisoformat(scheduled_at)
            window_s = float(window)
        except (TypeError, ValueError):
            return  # not one of ours (a periodiq-formatted date): run it
        if due_at.tzinfo is None:
            due_at = due_at.replace(tzinfo=UTC)
        lateness_s = (self.clock() - due_at).total_seconds()
        if lateness_s <= window_s:
            return
        fire = str(options.get("schedule_fire") or "")
        detail = f"started {lateness_s:.0f} s after its due time (window {window_s:.0f} s)"
        logger.warning(
            "scheduled message %s (%s, fire %s) %s: recorded as missed, not run",
            message.message_id,
            message.actor_name,
            fire or "?",
            detail,
        )
        schedule = fire.rpartition("@")[0]
        if schedule:
            try:
                with db.session_scope() as session:
                    ledger.mark_late(
                        session,
                        schedule=schedule,
                        due_at=due_at,
                        actor=message.actor_name,
                        lateness_ms=int(lateness_s * 1000),
                        detail=detail,
                        now=self.clock(),
                    )
            except SQLAlchemyError as error:
                logger.warning("could not record missed fire %s (%s)", fire, type(error).__name__)
        mark_skipped(f"missed: {detail}")
        raise SkipMessage(detail)
