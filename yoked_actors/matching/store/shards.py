"""The SQL of sharded runs (docs/matching.md, "Sharded runs"): how many subjects a run has, the
longitudes that split it, each shard's record, this run's own offers for the border pass, and
the run-wide notifications and summary. Functions take a Session and never commit."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy.typing as npt
from sqlalchemy.orm import Session

from yoked_actors import sql
from yoked_actors.matching.store.people import ELIGIBLE_USER, active_since

_COUNT_SUBJECTS = f"SELECT count(*) FROM users WHERE {ELIGIBLE_USER} AND timezone = :timezone"

# Longitudes at the 1/n, 2/n, ... quantiles of the subjects': bands of equal subjects.
_CUTS = f"""
SELECT percentile_disc(:fractions::float8[]) WITHIN GROUP (ORDER BY lon)
FROM users WHERE {ELIGIBLE_USER} AND timezone = :timezone
"""

# The first attempt fixes the cuts; later attempts read them.
_FIX_CUTS = """
UPDATE matching_runs SET shard_cuts = coalesce(shard_cuts, :cuts::float8[])
WHERE timezone = :timezone AND local_date = :local_date
RETURNING shard_cuts
"""

_START_SHARD = """
INSERT INTO matching_shards (timezone, local_date, shard) VALUES (:timezone, :local_date, :shard)
ON CONFLICT (timezone, local_date, shard) DO UPDATE
SET attempts = matching_shards.attempts + 1 WHERE matching_shards.status = 'running'
RETURNING status
"""

_LOCK_RUN = """
SELECT 1 FROM matching_runs WHERE timezone = :timezone AND local_date = :local_date FOR UPDATE
"""

_COMPLETE_SHARD = """
UPDATE matching_shards SET status = 'completed', completed_at = now(),
       eligible_users = :eligible_users, offers_selected = :offers_selected,
       duration_ms = :duration_ms, peak_rss_mb = :peak_rss_mb
WHERE timezone = :timezone AND local_date = :local_date AND shard = :shard
"""

_SHARDS_COMPLETED = """
SELECT shard FROM matching_shards
WHERE timezone = :timezone AND local_date = :local_date AND status = 'completed'
"""

# This run's own offers between the people read (for the border pass's quotas).
_OWN_OFFERS = """
CREATE TEMP TABLE run_own ON COMMIT DROP AS
SELECT pa.idx AS a, pb.idx AS b FROM match_offers AS o
JOIN run_people AS pa ON pa.id = o.user_a_id JOIN run_people AS pb ON pb.id = o.user_b_id
WHERE o.timezone = :timezone AND o.local_date = :local_date
"""

# Each user offered in the run, with their offers (all shards) and their own local date (a
# neighbour of another timezone: theirs at the run's clock).
_RUN_OFFER_COUNTS = """
CREATE TEMP TABLE run_counts ON COMMIT DROP AS
SELECT o.u, o.n,
       CASE WHEN us.timezone = :timezone THEN :local_date::date
            ELSE (:as_of::timestamptz AT TIME ZONE us.timezone)::date END AS d
FROM (SELECT u, count(*)::int AS n
      FROM (SELECT user_a_id AS u FROM match_offers
            WHERE timezone = :timezone AND local_date = :local_date
            UNION ALL
            SELECT user_b_id FROM match_offers
            WHERE timezone = :timezone AND local_date = :local_date) AS e
      GROUP BY u) AS o
JOIN users AS us ON us.id = o.u
"""
RUN_COUNT_COLUMNS = (("u", "uuid"), ("n", "int4"), ("d", "date"))

_RUN_SUMMARY = """
SELECT (SELECT coalesce(sum(eligible_users), 0)::int FROM matching_shards
        WHERE timezone = :timezone AND local_date = :local_date) AS eligible_users,
       (SELECT count(DISTINCT e.u)::int
        FROM (SELECT user_a_id AS u FROM match_offers
              WHERE timezone = :timezone AND local_date = :local_date
              UNION ALL
              SELECT user_b_id FROM match_offers
              WHERE timezone = :timezone AND local_date = :local_date) AS e
        JOIN users AS us ON us.id = e.u AND us.timezone = :timezone) AS users_with_offers,
       count(*)::int AS offers_selected,
       round(avg(score)::numeric, 4)::float8 AS mean_score
FROM match_offers WHERE timezone = :timezone AND local_date = :local_date
"""


def count_subjects(session: Session, timezone: str, as_of: datetime) -> int:
    """Eligible users of ``timezone`` at ``as_of``: the run's subjects."""
    params = {"timezone": timezone, "active_since": active_since(as_of)}
    return int(sql.execute(session, _COUNT_SUBJECTS, params)[0][0])


def fix_cuts(
    session: Session, timezone: str, local_date: date, as_of: datetime, shards: int
) -> list[float]:
    """The run's band limits: those fixed by an earlier attempt, else the subjects' longitude
    quantiles for ``shards`` bands (duplicates dropped)."""
    params: dict[str, Any] = {
        "timezone": timezone,
        "active_since": active_since(as_of),
        "fractions": [i / shards for i in range(1, shards)],
    }
    (row,) = sql.execute(session, _CUTS, params)
    cuts = sorted(set(row[0] or []))
    (fixed,) = sql.execute(
        session, _FIX_CUTS, {"timezone": timezone, "local_date": local_date, "cuts": cuts}
    )
    return list(fixed[0])


def start_shard(session: Session, timezone: str, local_date: date, shard: int) -> bool:
    """Create the shard's record or count another attempt. True: already completed."""
    params = {"timezone": timezone, "local_date": local_date, "shard": shard}
    return not sql.execute(session, _START_SHARD, params)


def complete_shard(
    session: Session, timezone: str, local_date: date, shard: int, summary: dict[str, Any]
) -> set[int]:
    """Mark the shard completed, under the run's row lock (shards completing at once take
    turns); returns the shards completed, this one included."""
    key = {"timezone": timezone, "local_date": local_date}
    sql.execute(session, _LOCK_RUN, key)
    sql.execute(session, _COMPLETE_SHARD, {**summary, **key, "shard": shard})
    return {row[0] for row in sql.execute(session, _SHARDS_COMPLETED, key)}


def completed_shards(session: Session, timezone: str, local_date: date) -> set[int]:
    """The shards of the run already completed."""
    key = {"timezone": timezone, "local_date": local_date}
    return {row[0] for row in sql.execute(session, _SHARDS_COMPLETED, key)}


def own_offers(session: Session, timezone: str, local_date: date) -> dict[str, npt.NDArray[Any]]:
    """This run's offers already written between the people the transaction read
    (``read_run``), as (a, b) person indexes."""
    with sql.driver_cursor(session, named_rows=False) as cursor:
        sql.execute_binary(cursor, _OWN_OFFERS, {"timezone": timezone, "local_date": local_date})
        return sql.copy_out_arrays(
            cursor, "SELECT a, b FROM run_own", (("a", "int4"), ("b", "int4"))
        )


def run_offer_counts(
    session: Session, timezone: str, local_date: date, as_of: datetime
) -> dict[str, npt.NDArray[Any]]:
    """Each user offered in the run (every shard): ``u`` (uuid bytes), ``n`` (offers), ``d``
    (their own local date, days since 2000-01-01)."""
    params = {"timezone": timezone, "local_date": local_date, "as_of": as_of}
    with sql.driver_cursor(session, named_rows=False) as cursor:
        sql.execute_binary(cursor, _RUN_OFFER_COUNTS, params)
        return sql.copy_out_arrays(cursor, "SELECT u, n, d FROM run_counts", RUN_COUNT_COLUMNS)


def run_summary(session: Session, timezone: str, local_date: date) -> dict[str, Any]:
    """The sharded run's summary from what it wrote: eligible users (summed over shards),
    users of the timezone with an offer, offers, mean score."""
    params = {"timezone": timezone, "local_date": local_date}
    (row,) = sql.execute(session, _RUN_SUMMARY, params)
    return dict(row._asdict())
