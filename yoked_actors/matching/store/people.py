"""Who is served (:data:`ACTIVE_USER`, :data:`ELIGIBLE_USER`), and the bulk read of one run:
its people, forbidden pairs and offers already made, straight into numpy arrays through binary
``COPY`` (docs/matching.md). Functions take a Session and never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from yoked_actors import sql
from yoked_actors.matching.run import MAX_DISTANCE_KM, RECENT_BATCH, REPEAT_WITHIN_DAYS
from yoked_actors.matching.shards import EVERYWHERE, Region
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


# ---------------------------------------------------------------- read

#: PostgreSQL working memory of the read's transaction (its sorts and hash joins).
READ_WORK_MEM = "256MB"

#: The goals as a bit mask over ``:goals`` (``contract.GOALS``): one test per goal. A subquery
#: over ``unnest(goals)`` per row took most of the read.
_GOAL_MASK = " | ".join(
    f"(CASE WHEN (:goals::text[])[{bit + 1}] = ANY(goals) THEN {1 << bit}::int8 ELSE 0 END)"
    for bit in range(len(GOALS))
)

#: Users in the run's region: a shard's band of longitudes, and for a border pass near a cut.
_IN_REGION = """lon >= :lon_from AND lon < :lon_to
      AND (cardinality(:strips::float8[]) = 0 OR EXISTS (
          SELECT 1 FROM unnest(:strips::float8[]) AS c
          WHERE 6371.0088 * asin(least(1, cos(radians(lat))
                                 * sin(radians(least(abs(lon - c), 90)))))
                <= least(max_distance_km, :max_km) + 0.001))"""

# The subjects' bounding box widened by their largest max distance (NULLs without subjects).
_BOX = f"""
WITH stats AS (
    SELECT min(lat) AS lat_min, max(lat) AS lat_max, min(lon) AS lon_min, max(lon) AS lon_max,
           max(least(max_distance_km, :max_km)) AS reach
    FROM users WHERE {ELIGIBLE_USER} AND timezone = :timezone AND {_IN_REGION}
)
SELECT lat_min - reach / 110.574 AS lat0, lat_max + reach / 110.574 AS lat1,
       lon_min - reach / lon_km AS lon0, lon_max + reach / lon_km AS lon1
FROM (SELECT *, 111.320 * greatest(cos(radians(least(
             greatest(abs(lat_min), abs(lat_max)) + reach / 110.574, 90))), 0.01) AS lon_km
      FROM stats) AS s
"""

# The run's people: its subjects (eligible users of the timezone) and the eligible users of
# other timezones inside the box. One scan of users, the box a constant (a CTE of every
# eligible user scanned twice cost more); the columns that cost per row (age, goals) are
# computed for the people kept only.
_PEOPLE = f"""
CREATE TEMP TABLE run_people ON COMMIT DROP AS
SELECT (row_number() OVER (ORDER BY id) - 1)::int AS idx, id, timezone,
       timezone = :timezone AS subject, lat, lon, least(max_distance_km, :max_km) AS max_km,
       gender, seeking_genders,
       extract(year FROM age(:local_date::date, birthdate))::int AS age, age_min, age_max,
       level, availability, coalesce(gym_id, -1) AS gym, {_GOAL_MASK} AS goals
FROM users
WHERE {ELIGIBLE_USER} AND {_IN_REGION}
  AND (timezone = :timezone
       OR (lat BETWEEN :lat0 AND :lat1
           AND (lon BETWEEN :lon0 AND :lon1 OR lon - 360 BETWEEN :lon0 AND :lon1
                OR lon + 360 BETWEEN :lon0 AND :lon1)))
"""

# Distinct values first (a hash of a few values), then sorted: not a sort of every row.
_VOCABULARIES = """
SELECT (SELECT coalesce(array_agg(g ORDER BY g COLLATE "C"), '{}')
          FROM (SELECT DISTINCT gender AS g FROM run_people) AS s),
       (SELECT coalesce(array_agg(z ORDER BY z COLLATE "C"), '{}')
          FROM (SELECT DISTINCT timezone AS z FROM run_people) AS s)
"""


def _people_rows(gender_count: int) -> str:
    """One fixed-width, non-null row per person, what ``copy_out_arrays`` decodes into arrays.
    ``gender`` is the index of the person's gender in ``:genders`` (sorted), ``seeking`` a bit
    mask over those indexes (a sought gender nobody has: bit ``:nobody_bit``; one test per
    gender present, cheaper than a subquery per row), ``zone`` the index of the person's
    timezone in ``:zones``."""
    seeking = " | ".join(
        [
            f"(CASE WHEN (:genders::text[])[{code + 1}] = ANY(seeking_genders)"
            f" THEN {1 << code}::int8 ELSE 0 END)"
            for code in range(gender_count)
        ]
        + [
            "(CASE WHEN coalesce(seeking_genders, '{}') <@ :genders::text[] THEN 0"
            " ELSE 1::int8 << :nobody_bit END)"
        ]
    )
    return f"""
SELECT idx, id, (array_position(:zones::text[], timezone) - 1)::int2 AS zone, subject,
       lat, lon, max_km, (array_position(:genders::text[], gender) - 1)::int2 AS gender,
       {seeking} AS seeking,
       age::int4, age_min::int4, age_max::int4, level::int4, goals::int8,
       coalesce(availability, 0)::int4 AS availability, gym::int8
FROM run_people
"""


#: (column, PostgreSQL type) of a person row, as ``sql.copy_out_arrays`` reads them.
PEOPLE_COLUMNS = (
    ("idx", "int4"),
    ("id", "uuid"),
    ("zone", "int2"),
    ("subject", "bool"),
    ("lat", "float8"),
    ("lon", "float8"),
    ("max_km", "float8"),
    ("gender", "int2"),
    ("seeking", "int8"),
    ("age", "int4"),
    ("age_min", "int4"),
    ("age_max", "int4"),
    ("level", "int4"),
    ("goals", "int8"),
    ("availability", "int4"),
    ("gym", "int8"),
)

_FORBIDDEN = """
CREATE TEMP TABLE run_forbidden ON COMMIT DROP AS
SELECT pa.idx AS a, pb.idx AS b FROM match_offers AS o
JOIN run_people AS pa ON pa.id = o.user_a_id JOIN run_people AS pb ON pb.id = o.user_b_id
WHERE (o.local_date > :repeat_after OR o.status = 'accepted')
  AND NOT (o.timezone = :timezone AND o.local_date = :local_date)
UNION ALL
SELECT pa.idx, pb.idx FROM blocks AS k
JOIN run_people AS pa ON pa.id = k.blocker_id JOIN run_people AS pb ON pb.id = k.blocked_id
"""
FORBIDDEN_COLUMNS = (("a", "int4"), ("b", "int4"))

# Offers of local dates near the run's are created within a day of it: the created_at index
# finds them (an index on local_date would cost every insert and expiry one more index write).
# The run's own offers (a retry's) are left out before they are held, not after.
_ALREADY = """
CREATE TEMP TABLE run_already ON COMMIT DROP AS
WITH recent AS MATERIALIZED (
    SELECT user_a_id, user_b_id, local_date, created_at FROM match_offers
    WHERE created_at BETWEEN :created_from AND :created_until
      AND local_date BETWEEN :first_day AND :last_day
      AND NOT (timezone = :timezone AND local_date = :local_date)
)
SELECT p.idx, o.local_date AS day, count(*)::int AS offers,
       bool_or(o.created_at >= :recent_since) AS recent
FROM (SELECT user_a_id AS user_id, local_date, created_at FROM recent
      UNION ALL
      SELECT user_b_id, local_date, created_at FROM recent) AS o
JOIN run_people AS p ON p.id = o.user_id
GROUP BY p.idx, o.local_date
"""
ALREADY_COLUMNS = (("idx", "int4"), ("day", "date"), ("offers", "int4"), ("recent", "bool"))


@dataclass(frozen=True)
class RunArrays:
    """What a run reads, as arrays (``run.build_input`` turns them into the run's input)."""

    #: One array per :data:`PEOPLE_COLUMNS` entry, one value per person, ordered by user id.
    people: dict[str, npt.NDArray[Any]]
    #: The genders present (sorted): ``people["gender"]`` indexes them.
    genders: list[str]
    #: The timezones present (sorted): ``people["zone"]`` indexes them.
    zones: list[str]
    #: (a, b) person indexes that must not be offered: offered together on a local date after
    #: ``REPEAT_WITHIN_DAYS`` ago, matched before, or blocked either way.
    forbidden: dict[str, npt.NDArray[Any]]
    #: Offers near the run's date by (person, local date), this run's own offers left out:
    #: ``idx``, ``day`` (days since 2000-01-01), ``offers``, ``recent`` (any created in the last
    #: ``RECENT_BATCH``).
    already: dict[str, npt.NDArray[Any]]


def read_run(
    session: Session,
    timezone: str,
    local_date: date,
    as_of: datetime,
    nobody_bit: int,
    region: Region = EVERYWHERE,
) -> RunArrays:
    """Read the run's people (in ``region``), forbidden pairs and offers already made,
    straight into arrays (temporary tables that the session's transaction drops at its
    end)."""
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
        "lon_from": region.lon_from,
        "lon_to": region.lon_to,
        "strips": list(region.strips),
    }
    with sql.driver_cursor(session, named_rows=False) as cursor:
        # The sorts and hashes of a few hundred thousand rows fit in memory (the default 4 MB
        # spilled them to disk), and compiling these one-off statements (JIT) costs more than
        # it saves. Both end with the transaction.
        sql.execute_binary(cursor, f"SET LOCAL work_mem = '{READ_WORK_MEM}'")
        sql.execute_binary(cursor, "SET LOCAL jit = off")
        ((lat0, lat1, lon0, lon1),) = sql.execute_binary(cursor, _BOX, params)
        box = {"lat0": lat0, "lat1": lat1, "lon0": lon0, "lon1": lon1}
        sql.execute_binary(cursor, _PEOPLE, {**params, **box})
        sql.execute_binary(cursor, "CREATE UNIQUE INDEX ON run_people (id)")
        # The later statements join run_people on id only: its statistics are all they need
        # (those of every column took four times as long).
        sql.execute_binary(cursor, "ANALYZE run_people (id)")
        ((genders, zones),) = sql.execute_binary(cursor, _VOCABULARIES)
        vocabularies = {"genders": genders, "zones": zones, "nobody_bit": nobody_bit}
        rows = sql.copy_out_arrays(cursor, _people_rows(len(genders)), PEOPLE_COLUMNS, vocabularies)
        people = by_index(rows)
        sql.execute_binary(cursor, _FORBIDDEN, params)
        forbidden = sql.copy_out_arrays(cursor, "SELECT a, b FROM run_forbidden", FORBIDDEN_COLUMNS)
        sql.execute_binary(cursor, _ALREADY, params)
        already = sql.copy_out_arrays(
            cursor, "SELECT idx, day, offers, recent FROM run_already", ALREADY_COLUMNS
        )
    return RunArrays(people, list(genders), list(zones), forbidden, already)


def by_index(rows: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
    """Each column with its values placed at the rows' ``idx`` (which it drops). The people are
    copied out without ``ORDER BY idx``, a server sort of every row: the table was written in
    that order and comes back so (then nothing moves); any other order is put right here, one
    column at a time."""
    idx = rows.pop("idx")
    if np.array_equal(idx, np.arange(len(idx))):
        return rows
    if not np.array_equal(np.sort(idx), np.arange(len(idx))):
        raise ValueError("person indexes are not 0 .. n-1")
    placed: dict[str, npt.NDArray[Any]] = {}
    for name in list(rows):
        values = rows.pop(name)
        placed[name] = np.empty_like(values)
        placed[name][idx] = values
    return placed
