"""Quiet hours in the user's own timezone: when a push may go out.

``users.quiet_hours_start`` / ``quiet_hours_end`` are local hours (0-23). A window whose start is
after its end spans midnight (22 -> 8 is quiet from 22:00 tonight to 08:00 tomorrow); equal hours
mean no quiet hours. Local times are resolved with :mod:`zoneinfo`, so DST changes and offsets
such as +05:45 are handled; an unknown timezone name is read as UTC rather than failing the batch
(:func:`yoked_actors.clock.zone_or_utc`). docs/notifications.md describes the rules.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from yoked_actors.clock import zone_or_utc


def _local_instant(day: date, hour: int, tz: tzinfo) -> datetime:
    # fold=0: an hour repeated by a DST change resolves to its first occurrence; an hour skipped
    # by one resolves to the same wall time on the old offset, i.e. just after the gap.
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)


def quiet_until(now: datetime, timezone: str | None, start: int, end: int) -> datetime | None:
    """The UTC instant the user's quiet hours end, if ``now`` falls inside them; else None.

    ``now`` must be timezone-aware. Hours outside 0-23 are taken modulo 24.
    """
    start, end = start % 24, end % 24
    if start == end:
        return None
    tz = zone_or_utc(timezone)
    local = now.astimezone(tz)
    hour = local.hour
    if start > end:  # spans midnight
        if hour >= start:
            return _local_instant(local.date() + timedelta(days=1), end, tz)
        if hour < end:
            return _local_instant(local.date(), end, tz)
        return None
    if start <= hour < end:
        return _local_instant(local.date(), end, tz)
    return None


def next_allowed(now: datetime, timezone: str | None, start: int, end: int) -> datetime:
    """The first instant at or after ``now`` outside the user's quiet hours."""
    return quiet_until(now, timezone, start, end) or now


def next_local_midnight(now: datetime, timezone: str | None) -> datetime:
    """The UTC instant the user's next local day begins."""
    tz = zone_or_utc(timezone)
    return _local_instant(now.astimezone(tz).date() + timedelta(days=1), 0, tz)


def local_day(instant: datetime, timezone: str | None) -> date:
    """The user's local date at ``instant``."""
    return instant.astimezone(zone_or_utc(timezone)).date()
