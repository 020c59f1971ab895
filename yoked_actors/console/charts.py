"""Inline SVG charts drawn on the server: geometry only, the template writes the elements.

Pure: a series of ``(day, value or None)`` becomes bar rectangles, or the points of a line's
segments, in a ``WIDTH`` x ``HEIGHT`` box. A missing day (no row, or a rate with a zero
denominator) draws nothing, breaks the line, and is listed; it is never drawn as zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

WIDTH = 300
HEIGHT = 60
PAD = 2


def chart(series: Sequence[tuple[date, float | None]], kind: str) -> dict[str, Any]:
    """Bars (``kind="bars"``) or a sparkline (``kind="line"``) of ``series``, oldest first."""
    if kind not in ("bars", "line"):
        raise ValueError(f"chart kind: 'bars' or 'line', not {kind!r}")
    values = [v for _, v in series if v is not None]
    top = max(values, default=0.0)
    scale = (HEIGHT - 2 * PAD) / top if top > 0 else 0.0
    slot = WIDTH / max(len(series), 1)
    bars: list[dict[str, Any]] = []
    segments: list[list[str]] = [[]]
    for i, (day, value) in enumerate(series):
        if value is None:
            if segments[-1]:
                segments.append([])  # a gap breaks the line
            continue
        height = round(value * scale, 2)
        y = round(HEIGHT - PAD - height, 2)
        if kind == "bars":
            bars.append(
                {
                    "x": round(i * slot + 0.5, 2),
                    "y": y,
                    "w": round(max(slot - 1, 1), 2),
                    "h": max(height, 0.5),
                    "day": day.isoformat(),
                    "value": value,
                }
            )
        else:
            segments[-1].append(f"{round(i * slot + slot / 2, 2)},{y}")
    return {
        "kind": kind,
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "segments": [" ".join(points) for points in segments if points],
        "max": top if values else None,
        "latest": series[-1][1] if series else None,
        "missing_days": [d.isoformat() for d, v in series if v is None],
    }
