"""Cron evaluation in a schedule's own IANA timezone, with Debian cron's rules.

Pure functions of (cron, timezone, instant): no clock, no database, so the next fires of any
schedule can be computed and tested for any instant.

- :class:`ZonedCronSpec` is periodiq's :class:`~periodiq.CronSpec` (the ``periodic`` actor option
  and the syntax users know) with Debian (Vixie) cron's meaning: ``0`` and ``7`` are Sunday (the
  periodiq bug, ``isoweekday()`` against a 0-based field, is fixed), day and month names are
  accepted, out-of-range values are refused with a ValueError naming the field, and day of
  month and day of week combine with OR only when **neither field starts with** ``*`` (so
  ``*/2`` counts as unrestricted and the fields combine with AND).
- A cron expression describes **local wall-clock times**. DST policy, as Debian cron:

  * a **fixed-time** entry (neither the minute nor the hour field starts with ``*``) fires
    each matching local time once: a time inside a spring-forward gap fires at the end of the
    gap (the transition), a time that occurs twice in a fall-back overlap fires at its first
    occurrence (:func:`local_to_utc`);
  * any other entry (``*`` or ``*/n`` in the minute or the hour) runs on real time: it fires in
    both passes of a repeated hour and has nothing to fire inside a gap.

  :func:`fire_times` yields strictly increasing UTC instants, never the same one twice.

An unknown timezone is refused (:func:`yoked_actors.clock.zone_strict`). See docs/scheduling.md.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
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
    for part in raw.split(","):
        base, slash, _ = part.partition("/")
        if slash and base != "*" and "-" not in base:
            # Debian cron refuses "5/15" (periodiq would read it as 5 alone).
            raise ValueError(
                f"cron {name} field {raw!r}: a step needs a range or *, like {base}-{high}/.."
            )
    try:
        values = expand_valid(raw, min=low, max=high)
    except ValueError:
        raise ValueError(f"cron {name} field {raw!r} is not valid") from None
    if not values or values[0] < low or values[-1] > high:
        raise ValueError(f"cron {name} field {raw!r} must stay within {low}-{high}")
    return values


class ZonedCronSpec(CronSpec):
    """periodiq's CronSpec with Debian cron's meaning and an IANA timezone.

    ``ZonedCronSpec.parse("0 9 * * sun", timezone="Europe/London")``. The spec itself matches
    local wall-clock times (:meth:`validate`); :func:`fire_times` applies the timezone.
    """

    timezone: str = "UTC"
    #: Whether the day-of-month / day-of-week field starts with ``*`` (Debian's DOM_STAR and
    #: DOW_STAR): if either does, both must match; otherwise either is enough.
    dom_star: bool = True
    dow_star: bool = True
    #: Neither the minute nor the hour field starts with ``*`` (Debian's "fixed-time job"):
    #: such an entry fires once per local time through DST changes; others run on real time.
    fixed_time: bool = False

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
        parsed.dom_star = fields[2].startswith("*")
        parsed.dow_star = fields[4].startswith("*")
        parsed.fixed_time = not (fields[0].startswith("*") or fields[1].startswith("*"))
        return parsed

    def validate(self, date: datetime) -> bool:
        """Whether the local wall-clock time ``date`` matches (minute precision).

        Day of month and day of week combine as in Debian cron: when neither field starts with
        ``*``, either matching is enough; otherwise both must match.
        """
        return date.minute in self.minute and date.hour in self.hour and self.matches_day(date)

    def matches_day(self, day: date) -> bool:
        """Whether the calendar day ``day`` has fires (month, day of month, day of week)."""
        if day.month not in self.month:
            return False
        weekday = day.isoweekday() % 7  # Sunday = 0, as in the cron field
        if not (self.dom_star or self.dow_star):
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


def _instants(local: datetime, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """The instants (UTC) at which the naive wall-clock time ``local`` occurs in ``tz``: (first,
    second); first is None inside a gap, second is None unless ``local`` is repeated."""
    earlier = local.replace(tzinfo=tz, fold=0)
    later = local.replace(tzinfo=tz, fold=1)
    exists = earlier.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local
    if not exists:
        return None, None
    if earlier.utcoffset() == later.utcoffset():
        return earlier.astimezone(UTC), None
    return earlier.astimezone(UTC), later.astimezone(UTC)


def _real_time_instants(spec: ZonedCronSpec, start: datetime, tz: ZoneInfo) -> Iterator[datetime]:
    """Every instant whose wall-clock time matches ``spec`` (both passes of a repeated hour,
    nothing inside a gap), in order. First occurrences come in local order, which is instant
    order; second occurrences wait in a heap until a later first occurrence is due."""
    pending: list[datetime] = []
    for local in _local_matches_after(spec, start):
        first, second = _instants(local, tz)
        if first is None:
            continue
        while pending and pending[0] < first:
            yield heapq.heappop(pending)
        yield first
        if second is not None:
            heapq.heappush(pending, second)
    while pending:
        yield heapq.heappop(pending)


def fire_times(spec: ZonedCronSpec, after: datetime) -> Iterator[datetime]:
    """The schedule's fire instants (aware, UTC) strictly after ``after``, in increasing order.

    Endless for a cron that matches at least once in 29 years; empty otherwise (``30 2 31 2 *``).
    """
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    tz = zone_strict(spec.timezone)
    after = after.astimezone(UTC)
    # Local wall-clock times map to instants monotonically (a gap collapses onto its end, a
    # second pass comes after its first), so starting a little before the local time of
    # `after` and filtering is exact.
    start = after.astimezone(tz).replace(tzinfo=None) - _DST_MARGIN
    if spec.fixed_time:
        instants: Iterator[datetime] = (
            local_to_utc(local, tz) for local in _local_matches_after(spec, start)
        )
    else:
        instants = _real_time_instants(spec, start, tz)
    last = after
    for instant in instants:
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


@dataclass(frozen=True)
class Transition:
    """A change of a zone's UTC offset: at ``at`` (UTC) the wall clock jumps from
    ``at + offset_before`` to ``at + offset_after``."""

    at: datetime
    offset_before: timedelta
    offset_after: timedelta

    @property
    def forward(self) -> bool:
        """Clocks go forward (a gap of local times that do not exist)."""
        return self.offset_after > self.offset_before

    @property
    def wall_before(self) -> datetime:
        """The naive wall-clock time the clock shows at the change, read with the old offset."""
        return (self.at + self.offset_before).replace(tzinfo=None)

    @property
    def wall_after(self) -> datetime:
        return (self.at + self.offset_after).replace(tzinfo=None)


def _offset(tz: ZoneInfo, seconds: int) -> timedelta:
    offset = datetime.fromtimestamp(seconds, tz).utcoffset()
    assert offset is not None
    return offset


def transitions(tz: ZoneInfo, start: datetime, end: datetime) -> list[Transition]:
    """The offset changes of ``tz`` in ``(start, end]``, in order (scanned a day at a time,
    then found to the second; no zone changes its offset twice in a day)."""
    found: list[Transition] = []
    low, stop = int(start.timestamp()), int(end.timestamp())
    before = _offset(tz, low)
    while low < stop:
        high = min(low + 86_400, stop)
        after = _offset(tz, high)
        if after != before:
            left, right = low, high  # offset(left) == before, offset(right) == after
            while right - left > 1:
                middle = (left + right) // 2
                if _offset(tz, middle) == before:
                    left = middle
                else:
                    right = middle
            found.append(Transition(datetime.fromtimestamp(right, UTC), before, after))
        low, before = high, after
    return found


def dst_note(spec: ZonedCronSpec, fire: datetime, tz: ZoneInfo) -> str | None:
    """How a fire relates to a DST change, for listings: a second pass of a repeated hour, the
    first pass, or (fixed-time entries) the end of a gap standing in for skipped times."""
    local = fire.astimezone(tz)
    wall = local.replace(tzinfo=None)
    _, second = _instants(wall, tz)
    if second is not None:
        return "repeated hour, second pass" if fire == second else "repeated hour, first pass"
    if not spec.fixed_time:
        return None
    for change in transitions(tz, fire - timedelta(seconds=1), fire):
        if change.forward and change.at == fire:
            skipped = []
            minute = change.wall_before
            while minute < change.wall_after:
                if spec.validate(minute):
                    skipped.append(minute.strftime("%H:%M"))
                minute += timedelta(minutes=1)
            if skipped:
                return f"end of the gap: stands in for {', '.join(skipped)}, skipped by the clock"
    return None
