"""The schedules a scheduler runs, and how one fire of a schedule is named.

The cron table (:data:`yoked_actors.schedules.SCHEDULES`) plus the actors declared periodiq
style, with the ``periodic`` actor option. Read by the scheduler loop and by whoever shows or
checks the table (the console, ``yoked schedules``) without importing the loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from yoked_actors.schedules import SCHEDULES, Schedule


def fire_key(schedule: str, due_at: datetime) -> str:
    """The fire's id in messages and logs: ``<schedule>@<due instant, UTC ISO>``."""
    return f"{schedule}@{due_at.astimezone(UTC).isoformat()}"


def periodic_schedules(actors: Iterable[Any]) -> list[Schedule]:
    """Schedules for actors declared periodiq style, with the ``periodic`` actor option.

    A plain periodiq ``CronSpec`` is read in UTC with the day of week fixed; a
    :class:`ZonedCronSpec` (``scheduling.cron.cron(spec, timezone)``) keeps its timezone.
    """
    found = []
    for actor in actors:
        spec = actor.options.get("periodic")
        if spec is None:
            continue
        found.append(
            Schedule(
                name=actor.actor_name,
                cron=str(spec),
                actor_name=actor.actor_name,
                timezone=getattr(spec, "timezone", "UTC"),
            )
        )
    return found


def all_schedules(actors: Iterable[Any] = ()) -> list[Schedule]:
    """The cron table plus periodiq-style actors (an actor already in the table is not added)."""
    table = list(SCHEDULES)
    scheduled = {s.actor_name for s in table}
    return table + [s for s in periodic_schedules(actors) if s.actor_name not in scheduled]
