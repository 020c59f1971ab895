"""Computing one UTC day's metrics and storing them in `daily_metrics`.

:func:`compute_day` runs the few set-based statements of :mod:`.queries` and derives every metric
from their counts; :func:`store_day` upserts them. Storing is idempotent: a row whose figures did
not change is not rewritten (its ``computed_at`` stays), and a (metric, dimension) that no longer
has data that day is deleted, so a rerun or an overlapping backfill leaves exactly what a single
run would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from yoked_actors.analytics.queries import STATEMENTS, Window

#: The nightly run recomputes this many days before the target, so late rows (offers answered
#: or expired after their day, moderation that finished late) and D7 retention settle.
SETTLE_DAYS = 8

#: A day's statements may read millions of rows; the service-wide statement timeout is for OLTP.
STATEMENT_TIMEOUT = "10min"
#: Enough for MAU's hash of one entry per monthly active user (~130 MB for 1M users) to stay in
#: memory; at the 4 MB default Postgres walks the (user_id, day) key instead, 4x slower when its
#: pages are not all-visible yet. Only this job's one connection, once a night, uses it.
WORK_MEM = "256MB"


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


def _activity(r: dict[str, Any]) -> list[Metric]:
    d = r["dimension"]
    return [count("dau", d, r["dau"]), count("wau", d, r["wau"]), count("mau", d, r["mau"])]


def _signups_retention(r: dict[str, Any]) -> list[Metric]:
    d = r["dimension"]
    return [
        count("signups", d, r["signups"]),
        rate("retention_d1", d, r["d1_retained"], r["d1_cohort"]),
        rate("retention_d7", d, r["d7_retained"], r["d7_cohort"]),
    ]


def _offers(r: dict[str, Any]) -> list[Metric]:
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


def _messages(r: dict[str, Any]) -> list[Metric]:
    d = r["dimension"]
    return [
        count("messages_sent", d, r["sent"]),
        count("messages_flagged", d, r["flagged"]),
        count("messages_hidden", d, r["hidden"]),
        count("conversations_started", d, r["conversations_started"]),
        rate("flagged_rate", d, r["flagged"] + r["hidden"], r["sent"]),
    ]


def _notifications(r: dict[str, Any]) -> list[Metric]:
    d = r["dimension"]
    return [
        count("notifications_sent", d, r["sent"]),
        count("notifications_failed", d, r["failed"]),
        rate("delivery_rate", d, r["sent"], r["sent"] + r["failed"]),
    ]


def _safety_tokens(r: dict[str, Any]) -> list[Metric]:
    d = r["dimension"]
    return [
        count("suspensions", d, r["suspensions"]),
        count("tokens_deactivated", d, r["tokens_deactivated"]),
    ]


_DERIVE: dict[str, Callable[[dict[str, Any]], list[Metric]]] = {
    "activity": _activity,
    "signups_retention": _signups_retention,
    "offers": _offers,
    "messages": _messages,
    "notifications": _notifications,
    "safety_tokens": _safety_tokens,
}


def compute_day(
    session: Session, day: date, *, timings: dict[str, float] | None = None
) -> list[Metric]:
    """Every metric of the UTC day ``day``, read in one snapshot; writes nothing.

    ``timings``, when given, receives each statement's wall time in seconds.
    """
    session.execute(text(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'"))
    session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    params = Window(day).params()
    metrics: list[Metric] = []
    for name, sql in STATEMENTS.items():
        started = time.perf_counter()
        rows = session.execute(text(sql), params).mappings().all()
        if timings is not None:
            timings[name] = time.perf_counter() - started
        for row in rows:
            metrics.extend(_DERIVE[name](dict(row)))
    return metrics


_UPSERT = text(
    """
    INSERT INTO daily_metrics AS m
        (metric_date, metric, dimension, value, numerator, denominator, computed_at)
    SELECT :day, metric, dimension, value, numerator, denominator, now()
    FROM unnest(CAST(:metrics AS text[]), CAST(:dimensions AS text[]),
                CAST(:values AS double precision[]), CAST(:numerators AS bigint[]),
                CAST(:denominators AS bigint[]))
         AS t(metric, dimension, value, numerator, denominator)
    ON CONFLICT (metric_date, metric, dimension) DO UPDATE
    SET value = excluded.value, numerator = excluded.numerator,
        denominator = excluded.denominator, computed_at = excluded.computed_at
    WHERE (m.value, m.numerator, m.denominator)
          IS DISTINCT FROM (excluded.value, excluded.numerator, excluded.denominator)
    """
)

_DELETE_STALE = text(
    """
    DELETE FROM daily_metrics
    WHERE metric_date = :day
      AND (metric, dimension) NOT IN (
          SELECT * FROM unnest(CAST(:metrics AS text[]), CAST(:dimensions AS text[])))
    """
)


def store_day(session: Session, day: date, metrics: list[Metric]) -> int:
    """Upsert ``metrics`` as the day's rows and delete the day's other rows.

    Returns how many rows were inserted, changed or deleted (0 on a rerun over unchanged data).
    """
    columns = {
        "day": day,
        "metrics": [m.metric for m in metrics],
        "dimensions": [m.dimension for m in metrics],
        "values": [m.value for m in metrics],
        "numerators": [m.numerator for m in metrics],
        "denominators": [m.denominator for m in metrics],
    }
    written = session.execute(_UPSERT, columns)
    deleted = session.execute(
        _DELETE_STALE, {k: columns[k] for k in ("day", "metrics", "dimensions")}
    )
    return int(getattr(written, "rowcount", 0)) + int(getattr(deleted, "rowcount", 0))


def aggregate_day(
    session: Session, day: date, *, timings: dict[str, float] | None = None
) -> tuple[int, int]:
    """Compute and store one day in the caller's transaction: (metrics, rows changed)."""
    metrics = compute_day(session, day, timings=timings)
    return len(metrics), store_day(session, day, metrics)


def yesterday_utc(now: datetime | None = None) -> date:
    """The UTC date before ``now`` (default: the current time)."""
    return ((now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=1)).date()


def read_day(session: Session, day: date, *, dimensions: bool = True) -> list[dict[str, Any]]:
    """The stored rows of ``day``, by metric then dimension (totals only unless ``dimensions``)."""
    sql = (
        "SELECT metric, dimension, value, numerator, denominator, computed_at "
        "FROM daily_metrics WHERE metric_date = :day"
        + ("" if dimensions else " AND dimension = ''")
        + " ORDER BY metric, dimension"
    )
    return [dict(r) for r in session.execute(text(sql), {"day": day}).mappings()]
