"""The metric queries: each reads one UTC day as the half-open range ``[start, end)``.

Every filter is a range on an indexed column (``created_at``, ``sent_at``, ``day``...), never a
cast such as ``created_at::date``, so each statement reads the day's rows through an index instead
of scanning the table. Each statement returns one row per dimension (``''`` is the total), whose
columns are the counts named in :data:`STATEMENTS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Window:
    """The bind parameters of one metric day."""

    day: date

    def params(self) -> dict[str, Any]:
        start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        return {
            "day": self.day,
            "start": start,
            "end": start + timedelta(days=1),
            "wau_from": self.day - timedelta(days=6),
            "mau_from": self.day - timedelta(days=29),
            "d1_start": start - timedelta(days=1),
            "d7_start": start - timedelta(days=7),
            "d7_end": start - timedelta(days=6),
        }


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
