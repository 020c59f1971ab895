"""The cron table: every scheduled job, in one place.

Each entry names a job (see ``yoked_actors.actors``) by its actor name, a cron expression read in
an IANA timezone (UTC unless said), and a catch-up window: how late a fire may still be enqueued
(after a scheduler outage) or start (after waiting in a busy queue); later, it is recorded as
missed in the fire ledger. The policies are in docs/scheduling.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any, Literal

from yoked_actors.scheduling.cron import ZonedCronSpec


@dataclass(frozen=True)
class Schedule:
    """One line of the cron table.

    ``catch_up_mode``: after an outage, "latest" enqueues only the most recent fire still within
    the window (the others are recorded as missed, superseded): right for jobs that process
    whatever is pending. "all" enqueues every fire still within the window.
    """

    name: str
    cron: str
    actor_name: str
    timezone: str = "UTC"
    #: How late a fire may still be enqueued or start; later, it is recorded as missed.
    catch_up: timedelta = timedelta(minutes=5)
    catch_up_mode: Literal["latest", "all"] = "latest"
    payload: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def spec(self) -> ZonedCronSpec:
        """The parsed cron in its timezone. Raises ValueError for a bad cron or timezone."""
        return ZonedCronSpec.parse(self.cron, self.timezone)


SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        name="prune-runs",
        cron="17 3 * * *",
        actor_name="maintenance.prune_runs",
        catch_up=timedelta(hours=6),
    ),
    # Lost triggers (a message.sent never published, a crashed run) re-derived from the
    # database; off the quarter hours the other frequent jobs use.
    Schedule(
        name="reconcile",
        cron="4-59/5 * * * *",
        actor_name="maintenance.reconcile",
        catch_up=timedelta(minutes=4),
    ),
    # Every 15 minutes in UTC: every timezone's 09:00 (offsets like +05:45 and +13:45 included)
    # falls on a quarter hour, and the dispatcher claims each (timezone, local date) once.
    Schedule(
        name="daily-match-dispatch",
        cron="*/15 * * * *",
        actor_name="matching.dispatch_daily",
        catch_up=timedelta(minutes=14),
    ),
    Schedule(
        name="expire-offers",
        cron="0 * * * *",
        actor_name="matching.expire_offers",
        catch_up=timedelta(minutes=50),
    ),
    Schedule(
        name="notification-batches",
        cron="*/5 * * * *",
        actor_name="notifications.send_batches",
        catch_up=timedelta(minutes=4),
    ),
    Schedule(
        name="notification-receipts",
        cron="2-59/15 * * * *",
        actor_name="notifications.poll_receipts",
        catch_up=timedelta(minutes=14),
    ),
    # After midnight UTC; the job aggregates the previous UTC day when given no date.
    Schedule(
        name="analytics-daily",
        cron="30 0 * * *",
        actor_name="analytics.aggregate_daily",
        catch_up=timedelta(hours=12),
    ),
)
