"""Analytics' SQL: one UTC day's counts, and the `daily_metrics` rows of a day.

Each counting statement reads one UTC day as the half-open range ``[start, end)``. Every filter
is a range on an indexed column (``created_at``, ``sent_at``, ``day``...), never a cast such as
``created_at::date``, so each statement reads the day's rows through an index instead of
scanning the table. Each returns one row per dimension (``''`` is the total), whose columns are
the counts :mod:`.metrics` derives the metrics from.

Storing is idempotent: a row whose figures did not change is not rewritten (its ``computed_at``
stays), and a (metric, dimension) that no longer has data that day is deleted, so a rerun or an
overlapping backfill leaves exactly what a single run would.

Functions take the caller's session and never begin, commit or roll back. docs/analytics.md
defines every metric.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from yoked_actors import sql
from yoked_actors.analytics.metrics import Metric

#: A day's statements may read millions of rows; the service-wide statement timeout is for OLTP.
STATEMENT_TIMEOUT = "10min"
#: Enough for MAU's hash of one entry per monthly active user (~130 MB for 1M users) to stay in
#: memory; at the 4 MB default Postgres walks the (user_id, day) key instead, 4x slower when its
#: pages are not all-visible yet. Only this job's one connection, once a night, uses it.
WORK_MEM = "256MB"

# DAU / WAU / MAU in one pass: each user's latest active day within the 30-day window.
ACTIVITY = """
SELECT '' AS dimension,
       count(*) FILTER (WHERE last_day = :day) AS dau,
       count(*) FILTER (WHERE last_day >= :wau_from) AS wau,
       count(*) AS mau
FROM (SELECT user_id, max(day) AS last_day
      FROM user_activity_days
      WHERE day >= :mau_from AND day <= :day
      GROUP BY user_id) AS active
"""

# Signups of the day, and the D1 / D7 cohorts (signed up on day-1 / day-7) with how many of them
# were active on the day. One range scan of users.created_at per cohort, one PK probe per member.
SIGNUPS_RETENTION = """
SELECT '' AS dimension,
       count(*) FILTER (WHERE u.created_at >= :start) AS signups,
       count(*) FILTER (WHERE u.created_at < :start AND u.created_at >= :d1_start) AS d1_cohort,
       count(*) FILTER (WHERE u.created_at < :start AND u.created_at >= :d1_start
                        AND a.user_id IS NOT NULL) AS d1_retained,
       count(*) FILTER (WHERE u.created_at < :d7_end) AS d7_cohort,
       count(*) FILTER (WHERE u.created_at < :d7_end AND a.user_id IS NOT NULL) AS d7_retained
FROM users AS u
LEFT JOIN user_activity_days AS a ON a.user_id = u.id AND a.day = :day
WHERE (u.created_at >= :d1_start AND u.created_at < :end)
   OR (u.created_at >= :d7_start AND u.created_at < :d7_end)
"""

# Offers generated on the day and what became of them (a cohort: their later responses and
# expiry count toward the day they were generated), in total and per timezone.
OFFERS = """
SELECT CASE WHEN grouping(timezone) = 1 THEN '' ELSE 'timezone=' || timezone END AS dimension,
       count(*) AS generated,
       count(*) FILTER (WHERE a_acc <> b_acc) AS accepted_one_side,
       count(*) FILTER (WHERE a_acc AND b_acc) AS mutual,
       count(*) FILTER (WHERE status = 'declined') AS declined,
       count(*) FILTER (WHERE status = 'expired') AS expired
FROM (SELECT timezone, status,
             a_response IS NOT DISTINCT FROM 'accepted' AS a_acc,
             b_response IS NOT DISTINCT FROM 'accepted' AS b_acc
      FROM match_offers
      WHERE created_at >= :start AND created_at < :end) AS o
GROUP BY GROUPING SETS ((), (timezone))
"""

# Messages sent on the day, their moderation outcome, and conversations started: offers whose
# first message ever was sent on the day.
MESSAGES = """
WITH day_messages AS (
    SELECT match_offer_id, moderation_status
    FROM messages
    WHERE created_at >= :start AND created_at < :end
), offers_with_messages AS (
    SELECT DISTINCT match_offer_id FROM day_messages WHERE match_offer_id IS NOT NULL
)
SELECT '' AS dimension,
       (SELECT count(*) FROM day_messages) AS sent,
       (SELECT count(*) FROM day_messages WHERE moderation_status = 'flagged') AS flagged,
       (SELECT count(*) FROM day_messages WHERE moderation_status = 'hidden') AS hidden,
       (SELECT count(*) FROM offers_with_messages AS f
        WHERE NOT EXISTS (SELECT 1 FROM messages AS e
                          WHERE e.match_offer_id = f.match_offer_id
                            AND e.created_at < :start)) AS conversations_started
"""

# Notifications sent (sent_at) and dropped (dropped_at) on the day, in total and per kind.
NOTIFICATIONS = """
SELECT CASE WHEN grouping(kind) = 1 THEN '' ELSE 'kind=' || kind END AS dimension,
       count(*) FILTER (WHERE sent_at >= :start AND sent_at < :end) AS sent,
       count(*) FILTER (WHERE dropped_at >= :start AND dropped_at < :end) AS failed
FROM notifications
WHERE (sent_at >= :start AND sent_at < :end) OR (dropped_at >= :start AND dropped_at < :end)
GROUP BY GROUPING SETS ((), (kind))
"""

# Users suspended and push tokens deactivated on the day (trigger-stamped, migration 0800).
SAFETY_TOKENS = """
SELECT '' AS dimension,
       (SELECT count(*) FROM users
        WHERE suspended_at >= :start AND suspended_at < :end) AS suspensions,
       (SELECT count(*) FROM push_tokens
        WHERE deactivated_at >= :start AND deactivated_at < :end) AS tokens_deactivated
"""

#: Name -> SQL, in the order they run (the names appear in timings and docs).
STATEMENTS: dict[str, str] = {
    "activity": ACTIVITY,
    "signups_retention": SIGNUPS_RETENTION,
    "offers": OFFERS,
    "messages": MESSAGES,
    "notifications": NOTIFICATIONS,
    "safety_tokens": SAFETY_TOKENS,
}

_UPSERT = """
WITH written AS (
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
    RETURNING 1
)
SELECT count(*) AS n FROM written
"""

_DELETE_STALE = """
WITH deleted AS (
    DELETE FROM daily_metrics
    WHERE metric_date = :day
      AND (metric, dimension) NOT IN (
          SELECT * FROM unnest(CAST(:metrics AS text[]), CAST(:dimensions AS text[])))
    RETURNING 1
)
SELECT count(*) AS n FROM deleted
"""

_READ_DAY = """
SELECT metric, dimension, value, numerator, denominator, computed_at
FROM daily_metrics
WHERE metric_date = :day AND (:dimensions OR dimension = '')
ORDER BY metric, dimension
"""


def _day_params(day: date) -> dict[str, Any]:
    """The bind parameters of the counting statements for the UTC day ``day``."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {
        "day": day,
        "start": start,
        "end": start + timedelta(days=1),
        "wau_from": day - timedelta(days=6),
        "mau_from": day - timedelta(days=29),
        "d1_start": start - timedelta(days=1),
        "d7_start": start - timedelta(days=7),
        "d7_end": start - timedelta(days=6),
    }


def day_counts(
    session: Session, day: date, *, timings: dict[str, float] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Statement name -> its rows of counts for the UTC day ``day``, in one snapshot.

    Raises this transaction's statement timeout and working memory first (``SET LOCAL``: they
    end with it). ``timings``, when given, receives each statement's wall time in seconds.
    """
    sql.execute(session, f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
    sql.execute(session, f"SET LOCAL work_mem = '{WORK_MEM}'")
    params = _day_params(day)
    counts: dict[str, list[dict[str, Any]]] = {}
    for name, statement in STATEMENTS.items():
        started = time.perf_counter()
        counts[name] = [row._asdict() for row in sql.execute(session, statement, params)]
        if timings is not None:
            timings[name] = time.perf_counter() - started
    return counts


def store_day(session: Session, day: date, metrics: Sequence[Metric]) -> int:
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
    written = sql.execute(session, _UPSERT, columns)[0].n
    keys = {k: columns[k] for k in ("day", "metrics", "dimensions")}
    deleted = sql.execute(session, _DELETE_STALE, keys)[0].n
    return int(written) + int(deleted)


def read_day(session: Session, day: date, *, dimensions: bool = True) -> list[dict[str, Any]]:
    """The stored rows of ``day``, by metric then dimension (totals only unless ``dimensions``)."""
    rows = sql.execute(session, _READ_DAY, {"day": day, "dimensions": dimensions})
    return [row._asdict() for row in rows]
