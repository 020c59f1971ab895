"""Every SQL statement of daily matching: runs, the bulk read, offer and notification writes,
expiration, and the daily dispatcher's claims (docs/matching.md, docs/scheduling.md).

Each function takes a :class:`~sqlalchemy.orm.Session` and works inside its transaction: none
begins, commits or rolls back. The caller (``matching.generation``, ``matching.expiration``,
``matching.dispatch``) decides what commits together. Statements that read or write hundreds of
thousands of values run with binary parameters and results on a driver cursor
(:func:`yoked_actors.sql.execute_binary`) and write through binary ``COPY``
(:func:`yoked_actors.sql.copy_arrays`): no ORM row, no Python object per value written.

Who is served is defined once, here (:data:`ACTIVE_USER`, :data:`ELIGIBLE_USER`), for both the
dispatcher's and the generator's queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from yoked_actors import sql
from yoked_actors.matching.run import (
    MAX_DISTANCE_KM,
    OFFER_TTL,
    RECENT_BATCH,
    REPEAT_WITHIN_DAYS,
    Notices,
    Offers,
)
from yoked_actors.matching.scoring import SCORE_VERSION
from yoked_actors.models.contract import GOALS

# ---------------------------------------------------------------- who is served

#: Users not seen for longer get no daily matches.
ACTIVE_WITHIN = timedelta(days=14)

#: An *active user*: an account that is active, not deleted, and was seen in the last
#: ``ACTIVE_WITHIN`` (``:active_since`` = the reference instant minus it). The dispatcher starts
#: a timezone's day when it has active users and records how many; it does not look at profiles,
#: so a timezone whose active users all have incomplete profiles still gets its (empty) run.
ACTIVE_USER = "status = 'active' AND deleted_at IS NULL AND last_active_at >= :active_since"

#: An *eligible user*: an active user whose profile is complete enough to be matched (birthdate,
#: gender, position, level). Only they are a run's subjects and candidates.
ELIGIBLE_USER = f"""{ACTIVE_USER}
    AND birthdate IS NOT NULL AND gender IS NOT NULL
    AND lat IS NOT NULL AND lon IS NOT NULL AND level IS NOT NULL"""


def active_since(now: datetime) -> datetime:
    """The oldest ``last_active_at`` of an active user at ``now``."""
    return now - ACTIVE_WITHIN


# ---------------------------------------------------------------- run record

_START_RUN = """
INSERT INTO matching_runs (timezone, local_date, as_of) VALUES (:timezone, :local_date, :now)
ON CONFLICT (timezone, local_date) DO UPDATE
SET attempts = matching_runs.attempts + 1 WHERE matching_runs.status = 'running'
"""

_READ_RUN = """
SELECT status, as_of, eligible_users, users_with_offers, offers_selected,
       offers_written AS offers_written_total, mean_score, duration_ms, attempts
FROM matching_runs WHERE timezone = :timezone AND local_date = :local_date
"""

_COUNT_CHUNK = """
UPDATE matching_runs SET chunks_done = chunks_done + 1, offers_written = offers_written + :inserted
WHERE timezone = :timezone AND local_date = :local_date
"""

_COMPLETE_RUN = """
UPDATE matching_runs SET status = 'completed', completed_at = now(),
       eligible_users = :eligible_users, users_with_offers = :users_with_offers,
       offers_selected = :offers_selected, mean_score = :mean_score, duration_ms = :duration_ms
WHERE timezone = :timezone AND local_date = :local_date
"""


@dataclass(frozen=True)
class RunRecord:
    """What a generation attempt starts from: the run's row in ``matching_runs``."""

    completed: bool
    #: The run's clock, fixed by its first attempt.
    as_of: datetime
    #: The stored summary (eligible_users, ..., offers_written_total, attempts).
    summary: dict[str, Any]


def start_run(session: Session, timezone: str, local_date: date, now: datetime) -> RunRecord:
    """Create the run record (its ``as_of`` is ``now``), or count another attempt on it."""
    key = {"timezone": timezone, "local_date": local_date}
    sql.execute(session, _START_RUN, {**key, "now": now})
    (row,) = sql.execute(session, _READ_RUN, key)
    summary = row._asdict()
    return RunRecord(
        completed=summary.pop("status") == "completed",
        as_of=summary.pop("as_of"),
        summary=summary,
    )


def count_chunk(session: Session, timezone: str, local_date: date, inserted: int) -> None:
    """Count one written chunk of ``inserted`` offers on the run."""
    params = {"timezone": timezone, "local_date": local_date, "inserted": inserted}
    sql.execute(session, _COUNT_CHUNK, params)


def complete_run(
    session: Session, timezone: str, local_date: date, summary: dict[str, Any]
) -> None:
    """Mark the run completed with its summary (eligible_users, users_with_offers,
    offers_selected, mean_score, duration_ms)."""
    sql.execute(session, _COMPLETE_RUN, {**summary, "timezone": timezone, "local_date": local_date})


# ---------------------------------------------------------------- read

# The run's people: its subjects (eligible users of the timezone) and the eligible users of
# other timezones inside the subjects' bounding box widened by their largest max distance.
_PEOPLE = f"""
CREATE TEMP TABLE run_people ON COMMIT DROP AS
WITH eligible AS MATERIALIZED (
    SELECT id, timezone, lat, lon, least(max_distance_km, :max_km) AS max_km, gender,
           seeking_genders, extract(year FROM age(:local_date::date, birthdate))::int AS age,
           age_min, age_max, level, availability, coalesce(gym_id, -1) AS gym,
           (SELECT coalesce(bit_or(1::bigint << (array_position(:goals::text[], g) - 1)), 0)
              FROM unnest(goals) AS g) AS goals
    FROM users WHERE {ELIGIBLE_USER}
),
stats AS (
    SELECT min(lat) AS lat_min, max(lat) AS lat_max, min(lon) AS lon_min, max(lon) AS lon_max,
           max(max_km) AS reach
    FROM eligible WHERE timezone = :timezone
),
box AS (
    SELECT lat_min - reach / 110.574 AS lat0, lat_max + reach / 110.574 AS lat1,
           lon_min - reach / lon_km AS lon0, lon_max + reach / lon_km AS lon1
    FROM (SELECT *, 111.320 * greatest(cos(radians(least(
                 greatest(abs(lat_min), abs(lat_max)) + reach / 110.574, 90))), 0.01) AS lon_km
          FROM stats) AS s
)
SELECT (row_number() OVER (ORDER BY e.id) - 1)::int AS idx, e.*,
       e.timezone = :timezone AS subject
FROM eligible AS e, box AS b
WHERE e.timezone = :timezone
   OR (e.lat BETWEEN b.lat0 AND b.lat1
       AND (e.lon BETWEEN b.lon0 AND b.lon1 OR e.lon - 360 BETWEEN b.lon0 AND b.lon1
            OR e.lon + 360 BETWEEN b.lon0 AND b.lon1))
"""

# Columns in the order of ``run.PERSON_COLUMNS``.
_PEOPLE_ROWS = """
SELECT id::text, timezone, subject, lat, lon, max_km, gender, seeking_genders, age,
       age_min, age_max, level, goals, availability, gym
FROM run_people ORDER BY idx
"""

_FORBIDDEN = """
SELECT pa.idx, pb.idx FROM match_offers AS o
JOIN run_people AS pa ON pa.id = o.user_a_id JOIN run_people AS pb ON pb.id = o.user_b_id
WHERE (o.local_date > :repeat_after OR o.status = 'accepted')
  AND NOT (o.timezone = :timezone AND o.local_date = :local_date)
UNION ALL
SELECT pa.idx, pb.idx FROM blocks AS k
JOIN run_people AS pa ON pa.id = k.blocker_id JOIN run_people AS pb ON pb.id = k.blocked_id
"""

# Offers of local dates near the run's are created within a day of it: the created_at index
# finds them (an index on local_date would cost every insert and expiry one more index write).
_ALREADY = """
WITH recent AS MATERIALIZED (
    SELECT user_a_id, user_b_id, local_date, timezone, created_at FROM match_offers
    WHERE created_at BETWEEN :created_from AND :created_until
      AND local_date BETWEEN :first_day AND :last_day
)
SELECT p.idx, o.local_date, count(*)::int, bool_or(o.created_at >= :recent_since)
FROM (SELECT user_a_id AS user_id, local_date, timezone, created_at FROM recent
      UNION ALL
      SELECT user_b_id, local_date, timezone, created_at FROM recent) AS o
JOIN run_people AS p ON p.id = o.user_id
WHERE NOT (o.timezone = :timezone AND o.local_date = :local_date)
GROUP BY p.idx, o.local_date
"""


@dataclass(frozen=True)
class RunRows:
    """What a run reads, as rows (``run.build_input`` turns them into arrays)."""

    #: One row per person, ordered by user id, columns as ``run.PERSON_COLUMNS``.
    people: list[tuple[Any, ...]]
    #: (idx, idx) pairs that must not be offered: offered together on a local date after
    #: ``REPEAT_WITHIN_DAYS`` ago, matched before, or blocked either way.
    forbidden: list[tuple[int, int]]
    #: (idx, local date, offers, any created in the last ``RECENT_BATCH``) of offers near the
    #: run's date, this run's own offers left out.
    already: list[tuple[int, date, int, bool]]


def read_run(session: Session, timezone: str, local_date: date, as_of: datetime) -> RunRows:
    """Read the run's people, forbidden pairs and offers already made (a temporary table that
    the session's transaction drops at its end)."""
    params: dict[str, Any] = {
        "timezone": timezone,
        "local_date": local_date,
        "active_since": active_since(as_of),
        "max_km": MAX_DISTANCE_KM,
        "goals": list(GOALS),
        "repeat_after": local_date - timedelta(days=REPEAT_WITHIN_DAYS + 1),
        "recent_since": as_of - RECENT_BATCH,
        "first_day": local_date - timedelta(days=2),
        "last_day": local_date + timedelta(days=2),
        "created_from": as_of - timedelta(days=4),
        "created_until": as_of + timedelta(days=4),
    }
    with sql.driver_cursor(session, named_rows=False) as cursor:
        sql.execute_binary(cursor, _PEOPLE, params)
        sql.execute_binary(cursor, "CREATE UNIQUE INDEX ON run_people (id)")
        sql.execute_binary(cursor, "ANALYZE run_people")
        return RunRows(
            people=sql.execute_binary(cursor, _PEOPLE_ROWS),
            forbidden=sql.execute_binary(cursor, _FORBIDDEN, params),
            already=sql.execute_binary(cursor, _ALREADY, params),
        )


# ---------------------------------------------------------------- write

_OFFER_ROWS = (
    "CREATE TEMP TABLE offer_rows (a uuid, b uuid, s float8, km float8, sc float8, di float8,"
    " go float8, le float8, gy float8) ON COMMIT DROP"
)
_OFFER_COLUMNS = ("a", "b", "s", "km", "sc", "di", "go", "le", "gy")

_INSERT_OFFERS = """
INSERT INTO match_offers (user_a_id, user_b_id, local_date, timezone, score, reasons, status,
                          created_at, expires_at)
SELECT a, b, :local_date, :timezone, s,
       jsonb_build_object('version', :version::int, 'distance_km', km, 'schedule', sc,
                          'distance', di, 'goals', go, 'level', le, 'gym', gy = 1),
       'pending', :as_of, :expires_at
FROM offer_rows
ON CONFLICT (user_a_id, user_b_id, local_date) DO NOTHING
"""

_NOTIFICATION_ROWS = "CREATE TEMP TABLE notification_rows (u uuid, n int4, d date) ON COMMIT DROP"
_NOTIFICATION_COLUMNS = ("u", "n", "d")

_INSERT_NOTIFICATIONS = """
INSERT INTO notifications (user_id, kind, payload, dedupe_key)
SELECT u, 'daily_matches',
       jsonb_build_object('local_date', d, 'offers', n, 'timezone', :timezone::text),
       'daily_matches:' || u::text || ':' || d::text
FROM notification_rows
ON CONFLICT (dedupe_key) DO NOTHING
"""

#: Day 0 of PostgreSQL's binary date.
_PG_EPOCH = np.datetime64("2000-01-01", "D")


def insert_offers(
    session: Session,
    timezone: str,
    local_date: date,
    as_of: datetime,
    ids: npt.NDArray[np.str_],
    offers: Offers,
    rows: slice,
) -> int:
    """Insert the offers ``rows`` of ``offers`` (``ids``: the people's user ids). Returns the
    rows inserted: a pair already offered for ``local_date`` (an earlier attempt) is skipped."""
    parts = offers.parts
    arrays = [
        sql.uuid_bytes(ids[offers.lo[rows]]),
        sql.uuid_bytes(ids[offers.hi[rows]]),
        offers.score[rows],
        np.round(offers.km[rows], 2),
        *(np.round(parts[name][rows], 3) for name in ("schedule", "distance", "goals", "level")),
        parts["gym"][rows],
    ]
    params = {
        "timezone": timezone,
        "local_date": local_date,
        "as_of": as_of,
        "expires_at": as_of + OFFER_TTL,
        "version": SCORE_VERSION,
    }
    with sql.driver_cursor(session, named_rows=False) as cursor:
        sql.execute_binary(cursor, _OFFER_ROWS)
        sql.copy_arrays(cursor, "offer_rows", _OFFER_COLUMNS, arrays)
        sql.execute_binary(cursor, _INSERT_OFFERS, params)
        return cursor.rowcount


def insert_notifications(session: Session, timezone: str, notices: Notices, rows: slice) -> None:
    """Insert the ``daily_matches`` notifications ``rows`` of ``notices``; one already there
    (same dedupe key ``daily_matches:<user_id>:<local_date>``) is skipped."""
    arrays = [
        sql.uuid_bytes(notices.user_ids[rows]),
        notices.offers[rows].astype(np.int32),
        (notices.local_dates[rows] - _PG_EPOCH).astype(np.int32),
    ]
    with sql.driver_cursor(session, named_rows=False) as cursor:
        sql.execute_binary(cursor, _NOTIFICATION_ROWS)
        sql.copy_arrays(cursor, "notification_rows", _NOTIFICATION_COLUMNS, arrays)
        sql.execute_binary(cursor, _INSERT_NOTIFICATIONS, {"timezone": timezone})


# ---------------------------------------------------------------- expiration

# The due ids are read once, then expired batch by batch by primary key. Re-reading "the first
# N pending due rows" through the partial index each batch would walk every entry the previous
# batches left dead (until vacuum): quadratic, 60 s instead of seconds for a million offers.
_DUE_IDS = """
SELECT id FROM match_offers WHERE status = 'pending' AND expires_at <= :now
ORDER BY id LIMIT :limit
"""

_EXPIRE_BATCH = """
UPDATE match_offers AS m SET status = 'expired', expired_at = :now
FROM (SELECT id FROM match_offers
      WHERE id = ANY(:ids) AND status = 'pending' AND expires_at <= :now
      FOR UPDATE SKIP LOCKED) AS due
WHERE m.id = due.id
"""


def due_offer_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """The ids of pending offers whose ``expires_at`` is at or before ``now`` (at most
    ``limit``, lowest first)."""
    with sql.driver_cursor(session, named_rows=False) as cursor:
        rows = sql.execute_binary(cursor, _DUE_IDS, {"now": now, "limit": limit})
    return [row[0] for row in rows]


def expire_offers(session: Session, now: datetime, ids: Sequence[int]) -> int:
    """Expire the offers ``ids`` that are still pending and due, skipping rows locked by
    someone else (never waiting). Returns the offers expired."""
    with sql.driver_cursor(session, named_rows=False) as cursor:
        sql.execute_binary(cursor, _EXPIRE_BATCH, {"now": now, "ids": list(ids)})
        return cursor.rowcount


# ---------------------------------------------------------------- daily dispatch

_ACTIVE_BY_TIMEZONE = f"""
SELECT timezone, count(*) AS users FROM users WHERE {ACTIVE_USER} GROUP BY timezone
"""

_CLAIM_DISPATCH = """
INSERT INTO daily_dispatches (timezone, local_date, users) VALUES (:timezone, :local_date, :users)
ON CONFLICT (timezone, local_date) DO NOTHING
RETURNING timezone
"""

_RECORD_DISPATCH_MESSAGE = """
UPDATE daily_dispatches SET message_id = :message_id
WHERE timezone = :timezone AND local_date = :local_date
"""


def active_users_by_timezone(session: Session, now: datetime) -> dict[str, int]:
    """Active users (:data:`ACTIVE_USER`) at ``now``, by timezone name."""
    rows = sql.execute(session, _ACTIVE_BY_TIMEZONE, {"active_since": active_since(now)})
    return {row.timezone: row.users for row in rows}


def claim_dispatch(session: Session, timezone: str, local_date: date, users: int) -> bool:
    """Claim (timezone, local date) in ``daily_dispatches``. False: it was already claimed."""
    params = {"timezone": timezone, "local_date": local_date, "users": users}
    return bool(sql.execute(session, _CLAIM_DISPATCH, params))


def record_dispatch_message(
    session: Session, timezone: str, local_date: date, message_id: str
) -> None:
    """Record the id of the generation message a claim enqueued."""
    params = {"timezone": timezone, "local_date": local_date, "message_id": message_id}
    sql.execute(session, _RECORD_DISPATCH_MESSAGE, params)
