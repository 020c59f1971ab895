"""The metric definitions: how each `daily_metrics` row is derived from a day's counts.

Pure functions, no database. The store (:mod:`.store`) returns, for each family of metrics, one
row of counts per dimension (``''`` is the total); :func:`derive` turns them into
:class:`Metric` rows. A rate whose denominator is zero has a NULL value, never an error.
docs/analytics.md defines every metric.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Counts = Mapping[str, Any]


@dataclass(frozen=True)
class Metric:
    """One row of `daily_metrics` for a given day. A rate has a NULL value when ``denominator``
    is zero; a count has only ``value``."""

    metric: str
    dimension: str
    value: float | None
    numerator: int | None = None
    denominator: int | None = None


def count(metric: str, dimension: str, value: int) -> Metric:
    return Metric(metric, dimension, float(value))


def rate(metric: str, dimension: str, numerator: int, denominator: int) -> Metric:
    """``numerator / denominator``, or a NULL value (not an error) when the denominator is 0."""
    value = numerator / denominator if denominator else None
    return Metric(metric, dimension, value, numerator, denominator)


def _activity(r: Counts) -> list[Metric]:
    d = r["dimension"]
    return [count("dau", d, r["dau"]), count("wau", d, r["wau"]), count("mau", d, r["mau"])]


def _signups_retention(r: Counts) -> list[Metric]:
    d = r["dimension"]
    return [
        count("signups", d, r["signups"]),
        rate("retention_d1", d, r["d1_retained"], r["d1_cohort"]),
        rate("retention_d7", d, r["d7_retained"], r["d7_cohort"]),
    ]


def _offers(r: Counts) -> list[Metric]:
    d = r["dimension"]
    return [
        count("offers_generated", d, r["generated"]),
        count("offers_accepted_one_side", d, r["accepted_one_side"]),
        count("offers_mutual", d, r["mutual"]),
        count("offers_declined", d, r["declined"]),
        count("offers_expired", d, r["expired"]),
        rate("acceptance_rate", d, r["accepted_one_side"] + r["mutual"], r["generated"]),
        rate("mutual_rate", d, r["mutual"], r["generated"]),
    ]


def _messages(r: Counts) -> list[Metric]:
    d = r["dimension"]
    return [
        count("messages_sent", d, r["sent"]),
        count("messages_flagged", d, r["flagged"]),
        count("messages_hidden", d, r["hidden"]),
        count("conversations_started", d, r["conversations_started"]),
        rate("flagged_rate", d, r["flagged"] + r["hidden"], r["sent"]),
    ]


def _notifications(r: Counts) -> list[Metric]:
    d = r["dimension"]
    return [
        count("notifications_sent", d, r["sent"]),
        count("notifications_failed", d, r["failed"]),
        rate("delivery_rate", d, r["sent"], r["sent"] + r["failed"]),
    ]


def _safety_tokens(r: Counts) -> list[Metric]:
    d = r["dimension"]
    return [
        count("suspensions", d, r["suspensions"]),
        count("tokens_deactivated", d, r["tokens_deactivated"]),
    ]


#: Family of counts (a statement of :mod:`.store`) -> the metrics derived from one of its rows.
DERIVE: dict[str, Callable[[Counts], list[Metric]]] = {
    "activity": _activity,
    "signups_retention": _signups_retention,
    "offers": _offers,
    "messages": _messages,
    "notifications": _notifications,
    "safety_tokens": _safety_tokens,
}


def derive(family: str, rows: Sequence[Counts]) -> list[Metric]:
    """The metrics of one family's rows of counts (one row per dimension)."""
    return [metric for row in rows for metric in DERIVE[family](row)]
