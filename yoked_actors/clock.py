"""Time and timezones: one way to say "now", and two named ways to look up a zone.

- :func:`utc_now` is the only clock the code reads; code that needs a different "now" (tests,
  benchmarks, the demo) takes a :data:`Clock` argument defaulting to it.
- :func:`zone_strict` raises for an unknown IANA name: use it where the name came from an
  operator or a schedule and a typo must be reported (payloads, cron entries).
- :func:`zone_or_utc` reads an empty or unknown name as UTC: use it where one user's bad profile
  value must not fail a batch for everybody else (quiet hours, digests).

Zone data comes from :mod:`zoneinfo` (``tzdata`` is a dependency, so images without system
zone data still resolve every IANA name).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: A source of the current time; always timezone-aware, in UTC.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


@lru_cache(maxsize=1024)
def zone_strict(name: str) -> ZoneInfo:
    """The IANA timezone ``name``. Raises ValueError naming it when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA timezone {name!r} (example: Europe/London)") from None


@lru_cache(maxsize=1024)
def zone_or_utc(name: str | None) -> tzinfo:
    """The IANA timezone ``name``, or UTC when it is empty or unknown."""
    if not name:
        return UTC
    try:
        return zone_strict(name)
    except ValueError:
        return UTC
