"""The cron table: every scheduled job, in one place.

Each entry names a job (see ``yoked_actors.actors``), a cron expression, the IANA timezone it is
read in, and how late a fire may still run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class Schedule:
    """One line of the cron table."""

    name: str
    cron: str
    actor_name: str
    timezone: str = "UTC"
    #: How late a fire may still be enqueued; later, it is recorded as missed.
    catch_up: timedelta = timedelta(minutes=5)
    payload: Mapping[str, Any] = field(default_factory=dict)


SCHEDULES: tuple[Schedule, ...] = (
    Schedule(name="prune-runs", cron="17 3 * * *", actor_name="maintenance.prune_runs"),
)
