"""The runs filters as typed in a URL or on the command line, checked before any query, and
the keyset cursor of every paged list (runs, the review queue).

Pure: a malformed value raises :class:`FilterError` naming the filter (the console answers 400,
the CLI exits 2). Times take one syntax everywhere: ``15m``, ``2h``, ``7d``, ``1w`` (ago) or an
ISO 8601 time (UTC unless it says); output times are RFC 3339 in UTC with ``Z``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from yoked_actors import timespec
from yoked_actors.console.store import RunFilter
from yoked_actors.runs.events import STATUS_RANK
from yoked_actors.timespec import plain, rfc3339

__all__ = ["FilterError", "page_of", "parse_filter", "parse_time", "plain", "rfc3339"]

Row = TypeVar("Row")

#: Identifiers (actor, queue, error type) are dotted names; anything else is refused up front.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,199}$")
_MAX_TEXT = 500
FILTER_NAMES = (
    "status",
    "actor",
    "queue",
    "since",
    "until",
    "error_type",
    "error",
    "idempotency_key",
    "schedule_fire",
    "replay_of",
)


class FilterError(ValueError):
    """A filter's value is malformed; ``name`` is the filter."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def parse_time(raw: str, *, name: str = "since", now: datetime | None = None) -> datetime:
    """:func:`yoked_actors.timespec.parse_time`, a malformed value a :class:`FilterError`."""
    try:
        return timespec.parse_time(raw, name=name, now=now)
    except timespec.TimeSpecError as error:
        raise FilterError(name, str(error)) from None


def _text(name: str, raw: str) -> str:
    if len(raw) > _MAX_TEXT or "\x00" in raw:
        raise FilterError(name, f"at most {_MAX_TEXT} characters, no NUL")
    return raw


def parse_filter(params: Mapping[str, str], *, now: datetime | None = None) -> RunFilter:
    """A :class:`RunFilter` from URL parameters (empty values ignored; unknown ones ignored
    by the caller's choice: pass only :data:`FILTER_NAMES`)."""
    values: dict[str, Any] = {}
    for name in FILTER_NAMES:
        raw = params.get(name, "")
        if raw == "":
            continue
        if name == "status":
            if raw not in STATUS_RANK:
                raise FilterError(name, f"{raw!r} is not one of {', '.join(sorted(STATUS_RANK))}")
            values[name] = raw
        elif name in ("actor", "queue", "error_type"):
            if not _NAME.match(raw):
                raise FilterError(name, f"{raw[:60]!r} is not a name (letters, digits, . _ -)")
            values[name] = raw
        elif name in ("since", "until"):
            values[name] = parse_time(raw, name=name, now=now)
        else:
            values[name] = _text(name, raw)
    return RunFilter(**values)


def filter_params(f: RunFilter) -> dict[str, str]:
    """``f`` back as URL parameters (times as RFC 3339)."""
    out: dict[str, str] = {}
    for name in FILTER_NAMES:
        value = getattr(f, name)
        if value is not None:
            out[name] = rfc3339(value) or "" if isinstance(value, datetime) else str(value)
    return out


def parse_cursor(raw: str) -> tuple[datetime, str]:
    """The keyset cursor ``<RFC 3339 time>~<id>`` of the next page (the id is checked by the
    page that reads it)."""
    stamp, sep, message_id = raw.partition("~")
    if not sep or not message_id:
        raise FilterError("after", "not a page cursor (use the Next link)")
    return parse_time(stamp, name="after"), _text("after", message_id)


def cursor(at: datetime, row_id: object) -> str:
    return f"{rfc3339_us(at)}~{row_id}"


def page_of(
    rows: Sequence[Row], limit: int, key: Callable[[Row], tuple[datetime, object]]
) -> tuple[list[Row], str | None]:
    """Keyset paging, for every paged list: ``rows`` were fetched newest first as ``limit + 1``
    after the cursor; returns the page and the cursor of the next one (None: the last page).
    ``key`` gives a row's (time, id), the order the store query sorts and compares by."""
    page = list(rows[:limit])
    more = len(rows) > limit and page
    return page, cursor(*key(page[-1])) if more else None


def rfc3339_us(value: datetime) -> str:
    """Microsecond precision: what a keyset cursor needs to resume exactly."""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
