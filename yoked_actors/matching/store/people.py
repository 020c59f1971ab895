"""Who is served (:data:`ACTIVE_USER`, :data:`ELIGIBLE_USER`), and the bulk read of one run:
its people, forbidden pairs and offers already made, straight into numpy arrays through binary
``COPY`` (docs/matching.md). Functions take a Session and never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

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
      AND lon >= :lon_from AND lon < :lon_to
      AND (cardinality(:strips::float8[]) = 0 OR EXISTS (
          SELECT 1 FROM unnest(:strips::float8[]) AS c
          WHERE 6371.0088 * asin(least(1, cos(radians(lat))
                                 * sin(radians(least(abs(lon - c), 90)))))
                <= least(max_distance_km, :max_km) + 0.001))
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

_VOCABULARIES = """
SELECT (SELECT coalesce(array_agg(DISTINCT gender COLLATE "C" ORDER BY gender COLLATE "C"), '{}')
          FROM run_people),
       (SELECT coalesce(array_agg(DISTINCT timezone COLLATE "C" ORDER BY timezone COLLATE "C"),
                        '{}') FROM run_people)
"""

# One fixed-width, non-null row per person: what ``copy_out_arrays`` decodes into arrays.
# ``gender`` is the index of the person's gender in ``:genders`` (sorted), ``seeking`` a bit mask
# over those indexes (a sought gender nobody has: bit ``NOBODY_BIT``), ``zone`` the index of the
# person's timezone in ``:zones``.
_PEOPLE_COLUMNS_TABLE = """
CREATE TEMP TABLE run_columns ON COMMIT DROP AS
SELECT idx, id, (array_position(:zones::text[], timezone) - 1)::int2 AS zone, subject,
       lat, lon, max_km, (array_position(:genders::text[], gender) - 1)::int2 AS gender,
       (SELECT coalesce(bit_or(1::bigint << coalesce(array_position(:genders::text[], g) - 1,
                                                      :nobody_bit)), 0)
          FROM unnest(seeking_genders) AS g) AS seeking,
       age::int4, age_min::int4, age_max::int4, level::int4, goals::int8,
       coalesce(availability, 0)::int4 AS availability, gym::int8
FROM run_people
"""

#: (column, PostgreSQL type) of a person row, as ``sql.copy_out_arrays`` reads them.
PEOPLE_COLUMNS = (
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
_PEOPLE_ROWS = (
    f"SELECT {', '.join(name for name, _ in PEOPLE_COLUMNS)} FROM run_columns ORDER BY idx"
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
_ALREADY = """
CREATE TEMP TABLE run_already ON COMMIT DROP AS
WITH recent AS MATERIALIZED (
    SELECT user_a_id, user_b_id, local_date, timezone, created_at FROM match_offers
    WHERE created_at BETWEEN :created_from AND :created_until
      AND local_date BETWEEN :first_day AND :last_day
)
SELECT p.idx, o.local_date AS day, count(*)::int AS offers,
       bool_or(o.created_at >= :recent_since) AS recent
FROM (SELECT user_a_id AS user_id, local_date, timezone, created_at FROM recent
      UNION ALL
      SELECT user_b_id, local_date, timezone, created_at FROM recent) AS o
JOIN run_people AS p ON p.id = o.user_id
WHERE NOT (o.timezone = :timezone AND o.local_date = :local_date)
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
        sql.execute_binary(cursor, _PEOPLE, params)
        sql.execute_binary(cursor, "CREATE UNIQUE INDEX ON run_people (id)")
        sql.execute_binary(cursor, "ANALYZE run_people")
        ((genders, zones),) = sql.execute_binary(cursor, _VOCABULARIES)
        vocabularies = {"genders": genders, "zones": zones, "nobody_bit": nobody_bit}
        sql.execute_binary(cursor, _PEOPLE_COLUMNS_TABLE, vocabularies)
        people = sql.copy_out_arrays(cursor, _PEOPLE_ROWS, PEOPLE_COLUMNS)
        sql.execute_binary(cursor, _FORBIDDEN, params)
        forbidden = sql.copy_out_arrays(cursor, "SELECT a, b FROM run_forbidden", FORBIDDEN_COLUMNS)
        sql.execute_binary(cursor, _ALREADY, params)
        already = sql.copy_out_arrays(
            cursor, "SELECT idx, day, offers, recent FROM run_already", ALREADY_COLUMNS
        )
    return RunArrays(people, list(genders), list(zones), forbidden, already)
