"""Times as people type them and as JSON prints them, one syntax for the console and the CLI.

Pure. Input: ``15m``, ``2h``, ``7d``, ``1w`` (that long before now) or an ISO 8601 time (UTC
unless it says; a trailing ``Z`` is accepted). Output: RFC 3339 in UTC ending in ``Z``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

_RELATIVE = re.compile(r"^(\d{1,6})\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
EXAMPLES = "15m, 2h, 7d, 2026-03-01T09:00Z"


class TimeSpecError(ValueError):
    """``raw`` is neither a duration nor an ISO time; ``name`` is the option or filter."""

    def __init__(self, name: str, raw: str) -> None:
        super().__init__(f"{raw!r} is not a duration or a time; examples: {EXAMPLES}")
        self.name = name


def parse_time(raw: str, *, name: str = "since", now: datetime | None = None) -> datetime:
    """``15m``/``2h``/``7d``/``1w`` before ``now``, or an ISO 8601 time (UTC unless it says)."""
    value = raw.strip()
    match = _RELATIVE.match(value)
    if match:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        when = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        raise TimeSpecError(name, raw) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def rfc3339(value: datetime | None) -> str | None:
    """``value`` as RFC 3339 in UTC with a ``Z`` (milliseconds), or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def plain(value: Any) -> Any:
    """``value`` with every datetime as RFC 3339 ``Z`` text (for JSON)."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
