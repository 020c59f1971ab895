"""Cron evaluation in a schedule's own IANA timezone, with a stated DST policy.

Pure functions of (cron, timezone, instant): no clock, no database, so the next fires of any
schedule can be computed and tested for any instant.

- :class:`ZonedCronSpec` is periodiq's :class:`~periodiq.CronSpec` (the ``periodic`` actor option
  and the syntax users know) with its day-of-week bug fixed: periodiq compares ``isoweekday()``
  (Sunday = 7) with a 0-based field, so a Sunday or ``@weekly`` schedule never fires. Here ``0``
  and ``7`` are Sunday, day and month names (``sun``, ``Mon``, ``jan``) are accepted, and
  out-of-range values are refused with a ValueError naming the field.
- A cron expression describes **local wall-clock times**. :func:`local_to_utc` turns one into an
  instant with this DST policy:

  * a local time that does not exist (inside a spring-forward gap) fires once, at the first
    valid instant after the gap (the transition itself: 03:00 EDT for 02:30 in New York);
  * a local time that occurs twice (inside a fall-back overlap) fires once, at its first
    occurrence (daylight time);

  so :func:`fire_times` yields strictly increasing UTC instants, never the same one twice.

An unknown timezone is refused (:func:`yoked_actors.clock.zone_strict`). See docs/scheduling.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from periodiq import CronSpec, expand_valid

from yoked_actors.clock import zone_strict

#: The widest shift of a UTC offset by a DST rule we look behind for (30 min on Lord Howe,
#: 1 h almost everywhere, 2 h in Antarctica/Troll); more than enough.
_DST_MARGIN = timedelta(hours=3)
#: How far ahead to look for a matching day: "29 Feb on a Monday" recurs within 28 years.
_MAX_DAYS = 366 * 29

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)


def _replace_names(field: str, names: tuple[str, ...], first: int) -> str:
    lowered = field.lower()
    for index, name in enumerate(names):
        lowered = lowered.replace(name, str(index + first))
    return lowered


def _expand(raw: str, name: str, low: int, high: int) -> list[int]:
    try:
        values = expand_valid(raw, min=low, max=high)
    except ValueError:
        raise ValueError(f"cron {name} field {raw!r} is not valid") from None
    if not values or values[0] < low or values[-1] > high:
        raise ValueError(f"cron {name} field {raw!r} must stay within {low}-{high}")
    return values


class ZonedCronSpec(CronSpec):
    """periodiq's CronSpec with a correct day of week and an IANA timezone.

    ``ZonedCronSpec.parse("0 9 * * sun", timezone="Europe/London")``. The spec itself matches
    local wall-clock times (:meth:`validate`); :func:`fire_times` applies the timezone.
    """

    timezone: str = "UTC"

    @classmethod
    def parse(cls, spec: str, timezone: str = "UTC") -> ZonedCronSpec:
        """Parse a 5-field cron expression or a periodiq ``@name``. Raises ValueError."""
        text = spec.strip()
        if text.startswith("@"):
            if text not in cls._named_spec:
                known = ", ".join(sorted(cls._named_spec))
                raise ValueError(f"unknown cron shortcut {text!r}; known: {known}")
            text = cls._named_spec[text]
        fields = text.split()
        if len(fields) != 5:
            raise ValueError(
                f"cron expression {spec!r} needs 5 fields (minute hour day month weekday)"
            )
        fields[3] = _replace_names(fields[3], _MONTH_NAMES, 1)
        fields[4] = _replace_names(fields[4], _DAY_NAMES, 0)
        values = [_expand(raw, *_FIELDS[i]) for i, raw in enumerate(fields)]
        # 7 is Sunday too; the week is 0-6 from here on.
        values[4] = sorted({day % 7 for day in values[4]})
        parsed = cls(*values, parsed_from=spec)
        parsed.parsed_from = spec
        parsed.timezone = zone_strict(timezone).key
        return parsed

    def validate(self, date: datetime) -> bool:
        """Whether the local wall-clock time ``date`` matches (minute precision).

        Day of month and day of week combine as in cron: when both are restricted, either
        matching is enough.
        """
        return date.minute in self.minute and date.hour in self.hour and self.matches_day(date)

    def matches_day(self, day: date) -> bool:
        """Whether the calendar day ``day`` has fires (month, day of month, day of week)."""
        if day.month not in self.month:
            return False
        weekday = day.isoweekday() % 7  # Sunday = 0, as in the cron field
        if self.is_dow_restricted and self.is_dom_restricted:
            return day.day in self.dom or weekday in self.dow
        return day.day in self.dom and weekday in self.dow


def cron(spec: str, timezone: str = "UTC") -> ZonedCronSpec:
    """The ``periodic`` actor option, periodiq style: ``periodic=cron("0 9 * * sun", "UTC")``."""
    return ZonedCronSpec.parse(spec, timezone)


def local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the naive local wall-clock time ``local`` fires in ``tz``.

    Applies the DST policy: a time inside a gap maps to the end of the gap (the transition
    instant); a time inside an overlap maps to its first occurrence.
    """
    first = local.replace(tzinfo=tz, fold=0)  # fold=0: the earlier of two occurrences
    instant = first.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == local:
        return instant
    # Inside a gap: fold=1 reads it with the offset after the transition (an instant before the
    # gap), fold=0 with the offset before it (an instant after). Find the transition between.
    low = int(local.replace(tzinfo=tz, fold=1).timestamp())
    high = int(first.timestamp())
    after_offset = datetime.fromtimestamp(high, tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _local_matches_after(spec: ZonedCronSpec, start: datetime) -> Iterator[datetime]:
    """Naive local times matching ``spec``, strictly after the naive ``start``, in order."""
    day = start.date()
    for _ in range(_MAX_DAYS):
        if spec.matches_day(day):
            for hour in spec.hour:
                for minute in spec.minute:
                    candidate = datetime.combine(day, time(hour, minute))
                    if candidate > start:
                        yield candidate
        day += timedelta(days=1)


def fire_times(spec: ZonedCronSpec, after: datetime) -> Iterator[datetime]:
    """The schedule's fire instants (aware, UTC) strictly after ``after``, in increasing order.

    Endless for a cron that matches at least once in 29 years; empty otherwise (``30 2 31 2 *``).
    """
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    tz = zone_strict(spec.timezone)
    after = after.astimezone(UTC)
    # Local wall-clock times map to instants monotonically (a gap collapses onto its end), so
    # starting a little before the local time of `after` and filtering is exact.
    start = after.astimezone(tz).replace(tzinfo=None) - _DST_MARGIN
    last = after
    for local in _local_matches_after(spec, start):
        instant = local_to_utc(local, tz)
        if instant > last:
            last = instant
            yield instant


def next_fires(spec: ZonedCronSpec, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire instants (UTC) strictly after ``after``."""
    fires: list[datetime] = []
    for instant in fire_times(spec, after):
        fires.append(instant)
        if len(fires) >= count:
            break
    return fires


def fires_between(
    spec: ZonedCronSpec, start: datetime, end: datetime, *, limit: int = 100_000
) -> list[datetime]:
    """Fire instants in ``(start, end]`` (UTC), at most ``limit`` of them (the latest kept)."""
    fires: list[datetime] = []
    for instant in fire_times(spec, start):
        if instant > end:
            break
        fires.append(instant)
        if len(fires) > limit:
            del fires[0]
    return fires
