"""Sentry Crons check-ins for schedules: Sentry alerts on a missing or an error check-in, so a
stopped scheduler is noticed as well as a failing fire.

A no-op while Sentry is off. The monitor's slug is the schedule's name; its crontab and
timezone are the schedule's, and its margin is the catch-up window. See docs/scheduling.md.
"""

from __future__ import annotations

from yoked_actors.schedules import Schedule
from yoked_actors.scheduling.cron import ZonedCronSpec


def sentry_checkin(schedule: Schedule, status: str) -> None:
    """A Sentry Crons check-in for the schedule, when Sentry is on: Sentry alerts on a missing
    or an error check-in, so a stopped scheduler is noticed too."""
    import sentry_sdk

    if not sentry_sdk.get_client().is_active():
        return
    from sentry_sdk.crons import capture_checkin

    spec = schedule.spec
    crontab = ZonedCronSpec._named_spec.get(schedule.cron.strip(), schedule.cron)
    capture_checkin(
        monitor_slug=schedule.name,
        status=status,
        monitor_config={
            "schedule": {"type": "crontab", "value": crontab},
            "timezone": spec.timezone,
            "checkin_margin": max(1, int(schedule.catch_up.total_seconds() // 60)),
        },
    )
