"""`matching.generate_daily` and `matching.expire_offers` (DESIGN.md jobs 1 and 2, issue 5).

``generate_daily({"timezone": "America/New_York", "local_date": "2026-11-30"})`` gives every
eligible user of that timezone up to ``OFFERS_PER_DAY`` partners for that local day:

1. **Run record.** ``matching_runs`` (timezone, local_date) is created on the first attempt and
   fixes the run's clock ``as_of``; a completed run returns its summary and writes nothing.
2. **Read, in bulk.** One statement builds the run's people in a temporary table: eligible users
   (active, not deleted, complete profile, active in the last 14 days) of the timezone, plus the
   eligible users of other timezones inside the subjects' bounding box widened by their largest
   max distance. Two more read the pairs that are forbidden (a block either way, offered together
   in the last 30 days, ever accepted) and each person's offers already on their own local day.
3. **Decide** with the pure functions of ``yoked_actors.matching``.
4. **Write, in bulk.** Offers in chunks of ``OFFER_CHUNK`` rows (binary COPY into a temporary
   table, then INSERT ... ON CONFLICT DO NOTHING on (user_a_id, user_b_id, local_date)), each
   chunk its own short transaction, two at a time; then one ``daily_matches`` notification per
   user (dedupe key ``daily_matches:<user_id>:<local_date>``), the same way; last the
   completed run summary.

Idempotent and resumable: the inputs never include this run's own offers (those of this
timezone and local date), and the clock is the first attempt's, so every attempt computes the
same offers; a rerun after a crash inserts only what is missing. A user's quota counts the
offers already on their own local date in any timezone (a neighbour-timezone candidate's day,
a user who moved), and a user who received offers for another local date in the last 20 hours
gets none (someone who moved west never gets two batches in one day).

``expire_offers`` marks pending offers past ``expires_at`` as expired, in batches of
``batch_size`` rows, each its own transaction, locking with ``FOR UPDATE SKIP LOCKED`` so a
concurrent run or an API write never waits on it; it stops when none are due or its time budget
is spent (the next hourly run continues).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import psycopg
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import CursorResult, text

from yoked_actors.clock import zone_strict
from yoked_actors.db import session_scope
from yoked_actors.jobs import job
from yoked_actors.matching.candidates import candidate_pairs, pair_keys
from yoked_actors.matching.population import Population, gender_codes
from yoked_actors.matching.scoring import SCORE_VERSION, combine, components
from yoked_actors.matching.selection import greedy_select
from yoked_actors.models.contract import GOALS
from yoked_actors.queues import Queue

logger = logging.getLogger(__name__)

OFFERS_PER_DAY = 3
OFFER_TTL = timedelta(hours=24)
ACTIVE_WITHIN = timedelta(days=14)
#: A pair offered on any local date in this window (today included) is not offered again.
REPEAT_WITHIN_DAYS = 30
#: A user with offers for another local date created this recently gets none this run.
RECENT_BATCH = timedelta(hours=20)
#: Distances above this are treated as this (it bounds how far the run reads neighbours).
MAX_DISTANCE_KM = 200.0
OFFER_CHUNK = 50_000
#: Connections writing offer chunks at once.
WRITERS = 2


class GeneratePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str
    local_date: date

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone_strict(value)  # raises ValueError naming the zone
        return value


class ExpirePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Reference instant (ISO, with offset); default now. For operators and tests.
    now: datetime | None = None
    batch_size: int = Field(default=20_000, ge=1, le=100_000)
    time_budget_s: float = Field(default=240.0, gt=0, le=3_000)


@dataclass(frozen=True)
class RunState:
    """What a generation attempt starts from."""

    completed: bool
    as_of: datetime
    summary: dict[str, Any]


@contextmanager
def _cursor() -> Iterator[psycopg.Cursor[Any]]:
    """A psycopg cursor inside one ``session_scope`` transaction: bulk reads and COPY
    writes go straight through the driver (no ORM rows for hundreds of thousands of values)."""
    with session_scope() as session:
        driver = session.connection().connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        with driver.cursor() as cursor:
            yield cursor


# ---------------------------------------------------------------- run record


def start_run(timezone: str, local_date: date, now: datetime) -> RunState:
    """Create the run record, or count another attempt on it; its ``as_of`` is the clock."""
    with _cursor() as cur:
        cur.execute(
            "INSERT INTO matching_runs (timezone, local_date, as_of) VALUES (%s, %s, %s) "
            "ON CONFLICT (timezone, local_date) DO UPDATE "
            "SET attempts = matching_runs.attempts + 1 WHERE matching_runs.status = 'running'",
            (timezone, local_date, now),
        )
        cur.execute(
            "SELECT status, as_of, eligible_users, users_with_offers, offers_selected, "
            "offers_written, mean_score, duration_ms, attempts "
            "FROM matching_runs WHERE timezone = %s AND local_date = %s",
            (timezone, local_date),
        )
        row = cur.fetchone()
    assert row is not None
    names = (
        "eligible_users",
        "users_with_offers",
        "offers_selected",
        "offers_written_total",
        "mean_score",
        "duration_ms",
        "attempts",
    )
    return RunState(
        completed=row[0] == "completed",
        as_of=row[1],
        summary=dict(zip(names, row[2:], strict=True)),
    )


# ---------------------------------------------------------------- read

_ELIGIBLE = """
    status = 'active' AND deleted_at IS NULL AND birthdate IS NOT NULL AND gender IS NOT NULL
    AND lat IS NOT NULL AND lon IS NOT NULL AND level IS NOT NULL
    AND last_active_at >= %(active_since)s
"""

_PEOPLE = f"""
CREATE TEMP TABLE run_people ON COMMIT DROP AS
WITH eligible AS MATERIALIZED (
    SELECT id, timezone, lat, lon, least(max_distance_km, %(max_km)s) AS max_km, gender,
           seeking_genders, extract(year FROM age(%(local_date)s::date, birthdate))::int AS age,
           age_min, age_max, level, availability, coalesce(gym_id, -1) AS gym,
           (SELECT coalesce(bit_or(1::bigint << (array_position(%(goals)s::text[], g) - 1)), 0)
              FROM unnest(goals) AS g) AS goals
    FROM users WHERE {_ELIGIBLE}
),
stats AS (
    SELECT min(lat) AS lat_min, max(lat) AS lat_max, min(lon) AS lon_min, max(lon) AS lon_max,
           max(max_km) AS reach
    FROM eligible WHERE timezone = %(timezone)s
),
box AS (
    SELECT lat_min - reach / 110.574 AS lat0, lat_max + reach / 110.574 AS lat1,
           lon_min - reach / lon_km AS lon0, lon_max + reach / lon_km AS lon1
    FROM (SELECT *, 111.320 * greatest(cos(radians(least(
                 greatest(abs(lat_min), abs(lat_max)) + reach / 110.574, 90))), 0.01) AS lon_km
          FROM stats) AS s
)
SELECT (row_number() OVER (ORDER BY e.id) - 1)::int AS idx, e.*,
       e.timezone = %(timezone)s AS subject
FROM eligible AS e, box AS b
WHERE e.timezone = %(timezone)s
   OR (e.lat BETWEEN b.lat0 AND b.lat1
       AND (e.lon BETWEEN b.lon0 AND b.lon1 OR e.lon - 360 BETWEEN b.lon0 AND b.lon1
            OR e.lon + 360 BETWEEN b.lon0 AND b.lon1))
"""

_FORBIDDEN = """
SELECT pa.idx, pb.idx FROM match_offers AS o
JOIN run_people AS pa ON pa.id = o.user_a_id JOIN run_people AS pb ON pb.id = o.user_b_id
WHERE (o.local_date > %(repeat_after)s OR o.status = 'accepted')
  AND NOT (o.timezone = %(timezone)s AND o.local_date = %(local_date)s)
UNION ALL
SELECT pa.idx, pb.idx FROM blocks AS k
JOIN run_people AS pa ON pa.id = k.blocker_id JOIN run_people AS pb ON pb.id = k.blocked_id
"""

# Offers of local dates near the run's are created within a day of it: the created_at index
# finds them (an index on local_date would cost every insert and expiry one more index write).
_ALREADY = """
WITH recent AS MATERIALIZED (
    SELECT user_a_id, user_b_id, local_date, timezone, created_at FROM match_offers
    WHERE created_at BETWEEN %(created_from)s AND %(created_until)s
      AND local_date BETWEEN %(first_day)s AND %(last_day)s
)
SELECT p.idx, o.local_date, count(*)::int, bool_or(o.created_at >= %(recent_since)s)
FROM (SELECT user_a_id AS user_id, local_date, timezone, created_at FROM recent
      UNION ALL
      SELECT user_b_id, local_date, timezone, created_at FROM recent) AS o
JOIN run_people AS p ON p.id = o.user_id
WHERE NOT (o.timezone = %(timezone)s AND o.local_date = %(local_date)s)
GROUP BY p.idx, o.local_date
"""


@dataclass(frozen=True)
class RunInput:
    """Everything a run decides from."""

    population: Population
    #: Sorted pair keys (``candidates.pair_keys``) that must not be offered.
    forbidden: npt.NDArray[np.int64]
    #: Each person's own local date (the day their quota counts).
    own_dates: list[date]


def _own_dates(
    timezones: Sequence[str], subject: Sequence[bool], local_date: date, as_of: datetime
) -> list[date | None]:
    """Each person's local date at ``as_of`` (the run's date for subjects); None for a person
    whose timezone name is unknown (they cannot be counted against a day, so they get none)."""
    by_zone: dict[str, date | None] = {}
    for name in set(timezones):
        try:
            by_zone[name] = as_of.astimezone(zone_strict(name)).date()
        except ValueError:
            by_zone[name] = None
    return [
        local_date if own else by_zone[name] for name, own in zip(timezones, subject, strict=True)
    ]


def read_input(timezone: str, local_date: date, as_of: datetime) -> RunInput:
    """Read the run's people, forbidden pairs and quotas in one transaction."""
    params: dict[str, Any] = {
        "timezone": timezone,
        "local_date": local_date,
        "active_since": as_of - ACTIVE_WITHIN,
        "max_km": MAX_DISTANCE_KM,
        "goals": list(GOALS),
        "repeat_after": local_date - timedelta(days=REPEAT_WITHIN_DAYS + 1),
        "recent_since": as_of - RECENT_BATCH,
        "first_day": local_date - timedelta(days=2),
        "last_day": local_date + timedelta(days=2),
        "created_from": as_of - timedelta(days=4),
        "created_until": as_of + timedelta(days=4),
    }
    with _cursor() as cur:
        cur.execute(_PEOPLE, params)
        cur.execute("CREATE UNIQUE INDEX ON run_people (id)")
        cur.execute("ANALYZE run_people")
        cur.execute(
            "SELECT id::text, timezone, subject, lat, lon, max_km, gender, seeking_genders, age, "
            "age_min, age_max, level, goals, availability, gym FROM run_people ORDER BY idx"
        )
        rows = cur.fetchall()
        cur.execute(_FORBIDDEN, params)
        forbidden_rows = cur.fetchall()
        cur.execute(_ALREADY, params)
        already_rows = cur.fetchall()
    if not rows:
        return RunInput(_empty_population(), np.zeros(0, dtype=np.int64), [])
    columns = list(zip(*rows, strict=True))
    ids, zones, subject = columns[0], columns[1], columns[2]
    own = _own_dates(zones, subject, local_date, as_of)
    quota = np.array([OFFERS_PER_DAY if day else 0 for day in own], dtype=np.int64)
    for idx, day, count, recent in already_rows:
        if day == own[idx]:
            quota[idx] -= count
        elif recent:
            quota[idx] = 0
    gender, seeking = gender_codes(columns[6], columns[7])
    population = Population(
        ids=np.array(ids),
        lat=np.array(columns[3], dtype=np.float64),
        lon=np.array(columns[4], dtype=np.float64),
        max_km=np.array(columns[5], dtype=np.float64),
        gender=gender,
        seeking=seeking,
        age=np.array(columns[8], dtype=np.int64),
        age_min=np.array(columns[9], dtype=np.int64),
        age_max=np.array(columns[10], dtype=np.int64),
        level=np.array(columns[11], dtype=np.int64),
        goals=np.array(columns[12], dtype=np.int64),
        availability=np.array(columns[13], dtype=np.int64),
        gym=np.array(columns[14], dtype=np.int64),
        subject=np.array(subject, dtype=bool),
        quota=np.maximum(quota, 0),
    )
    pairs = np.array(forbidden_rows, dtype=np.int64).reshape(-1, 2)
    forbidden = np.unique(pair_keys(pairs[:, 0], pairs[:, 1], len(ids)))
    return RunInput(population, forbidden, [d or local_date for d in own])


def _empty_population() -> Population:
    ints = np.zeros(0, dtype=np.int64)
    floats = np.zeros(0, dtype=np.float64)
    return Population(
        ids=np.zeros(0, dtype=str),
        lat=floats,
        lon=floats,
        max_km=floats,
        gender=ints,
        seeking=ints,
        age=ints,
        age_min=ints,
        age_max=ints,
        level=ints,
        goals=ints,
        availability=ints,
        gym=ints,
        subject=np.zeros(0, dtype=bool),
        quota=ints,
    )


# ---------------------------------------------------------------- decide


@dataclass(frozen=True)
class Offers:
    """The offers a run decided, as parallel arrays sorted by (lo, hi)."""

    lo: npt.NDArray[np.int64]
    hi: npt.NDArray[np.int64]
    km: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    parts: dict[str, npt.NDArray[np.float64]]
    #: Fitting candidate pairs found, and subjects with at least one.
    candidates: int
    subjects_with_candidates: int
    #: Milliseconds spent finding + filtering candidates, scoring, selecting.
    timings_ms: dict[str, int]

    def __len__(self) -> int:
        return len(self.lo)


def decide(run_input: RunInput) -> Offers:
    """Candidates, scores and the greedy selection: the offers of the run."""
    population = run_input.population
    clock = [time.perf_counter()]
    lo, hi, km = candidate_pairs(population, run_input.forbidden)
    clock.append(time.perf_counter())
    parts = components(population, lo, hi, km)
    score = combine(parts)
    clock.append(time.perf_counter())
    chosen = greedy_select(lo, hi, score, population.quota)
    clock.append(time.perf_counter())
    has_candidate = np.zeros(len(population), dtype=bool)
    has_candidate[lo] = has_candidate[hi] = True
    return Offers(
        lo=lo[chosen],
        hi=hi[chosen],
        km=km[chosen],
        score=score[chosen],
        parts={name: values[chosen] for name, values in parts.items()},
        candidates=len(lo),
        subjects_with_candidates=int((has_candidate & population.subject).sum()),
        timings_ms={
            name: int((clock[i + 1] - clock[i]) * 1000)
            for i, name in enumerate(("candidates", "score", "select"))
        },
    )


# ---------------------------------------------------------------- write

_OFFER_ROWS = (
    "CREATE TEMP TABLE offer_rows (a uuid, b uuid, s float8, km float8, sc float8, di float8,"
    " go float8, le float8, gy float8) ON COMMIT DROP"
)

_INSERT_OFFERS = """
INSERT INTO match_offers (user_a_id, user_b_id, local_date, timezone, score, reasons, status,
                          created_at, expires_at)
SELECT a, b, %(local_date)s, %(timezone)s, s,
       jsonb_build_object('version', %(version)s::int, 'distance_km', km, 'schedule', sc,
                          'distance', di, 'goals', go, 'level', le, 'gym', gy = 1),
       'pending', %(as_of)s, %(expires_at)s
FROM offer_rows
ON CONFLICT (user_a_id, user_b_id, local_date) DO NOTHING
"""

_NOTIFICATION_ROWS = "CREATE TEMP TABLE notification_rows (u uuid, n int4, d date) ON COMMIT DROP"

_INSERT_NOTIFICATIONS = """
INSERT INTO notifications (user_id, kind, payload, dedupe_key)
SELECT u, 'daily_matches',
       jsonb_build_object('local_date', d, 'offers', n, 'timezone', %(timezone)s::text),
       'daily_matches:' || u::text || ':' || d::text
FROM notification_rows
ON CONFLICT (dedupe_key) DO NOTHING
"""

_PG_EPOCH = date(2000, 1, 1)


def uuid_bytes(ids: npt.NDArray[np.str_]) -> npt.NDArray[np.void]:
    """Canonical uuid strings as their 16 bytes (PostgreSQL's binary form of uuid)."""
    return np.frombuffer(bytes.fromhex("".join(ids.tolist()).replace("-", "")), dtype="V16")


def copy_binary(cur: psycopg.Cursor[Any], table: str, columns: list[npt.NDArray[Any]]) -> None:
    """COPY equal-length numpy columns into ``table`` in PostgreSQL's binary format, built with
    numpy in one buffer: no Python object per value. Columns must be ``V16`` (uuid), float64
    (float8), int32 (int4, or date as days since 2000-01-01)."""
    count = len(columns[0])
    fields: list[tuple[str, str]] = [("fields", ">i2")]
    for i, column in enumerate(columns):
        kind = {"V": "V16", "f": ">f8", "i": ">i4"}[column.dtype.kind]
        fields += [(f"len{i}", ">i4"), (f"val{i}", kind)]
    rows = np.empty(count, dtype=np.dtype(fields))
    rows["fields"] = len(columns)
    for i, column in enumerate(columns):
        rows[f"len{i}"] = (
            column.dtype.itemsize
            if column.dtype.kind == "V"
            else (8 if column.dtype.kind == "f" else 4)
        )
        rows[f"val{i}"] = column
    header = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
    with cur.copy(f"COPY {table} FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.write(header + rows.tobytes() + b"\xff\xff")


def write_chunk(
    timezone: str,
    local_date: date,
    as_of: datetime,
    ids: npt.NDArray[np.str_],
    offers: Offers,
    rows: slice,
) -> int:
    """Insert one chunk of offers and count the chunk on the run, in one transaction.
    Returns the rows inserted (0 for rows an earlier attempt wrote)."""
    parts = offers.parts
    columns = [
        uuid_bytes(ids[offers.lo[rows]]),
        uuid_bytes(ids[offers.hi[rows]]),
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
    with _cursor() as cur:
        cur.execute(_OFFER_ROWS)
        copy_binary(cur, "offer_rows", columns)
        cur.execute(_INSERT_OFFERS, params)
        inserted = cur.rowcount
        cur.execute(
            "UPDATE matching_runs SET chunks_done = chunks_done + 1, "
            "offers_written = offers_written + %s WHERE timezone = %s AND local_date = %s",
            (inserted, timezone, local_date),
        )
    return inserted


def finish_run(
    timezone: str,
    local_date: date,
    run_input: RunInput,
    offers: Offers,
    summary: dict[str, Any],
    *,
    chunk_size: int = OFFER_CHUNK,
) -> None:
    """One notification per user offered today (deduplicated by key), written once every offer
    is, then the completed summary. Notification chunks are their own transactions, written
    two at a time; a crash before the summary leaves the run ``running`` and its retry finds
    the notifications already there."""
    population = run_input.population
    per_user = np.bincount(np.concatenate((offers.lo, offers.hi)), minlength=len(population))
    users = np.flatnonzero(per_user)
    days = np.array(
        [(run_input.own_dates[i] - _PG_EPOCH).days for i in users.tolist()], dtype=np.int32
    )

    def write_notifications(rows: slice) -> None:
        with _cursor() as cur:
            cur.execute(_NOTIFICATION_ROWS)
            columns = [
                uuid_bytes(population.ids[users[rows]]),
                per_user[users[rows]].astype(np.int32),
                days[rows],
            ]
            copy_binary(cur, "notification_rows", columns)
            cur.execute(_INSERT_NOTIFICATIONS, {"timezone": timezone})

    chunks = [slice(start, start + chunk_size) for start in range(0, len(users), chunk_size)]
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        list(pool.map(write_notifications, chunks))
    with _cursor() as cur:
        cur.execute(
            "UPDATE matching_runs SET status = 'completed', completed_at = now(), "
            "eligible_users = %(eligible_users)s, users_with_offers = %(users_with_offers)s, "
            "offers_selected = %(offers_selected)s, mean_score = %(mean_score)s, "
            "duration_ms = %(duration_ms)s WHERE timezone = %(tz)s AND local_date = %(d)s",
            {**summary, "tz": timezone, "d": local_date},
        )


# ---------------------------------------------------------------- the run


def generate(
    timezone: str, local_date: date, *, now: datetime | None = None, chunk_size: int = OFFER_CHUNK
) -> dict[str, Any]:
    """Generate (or finish generating) the offers of ``timezone`` for ``local_date``.

    Returns the run summary: eligible users, users with at least one offer, offers selected
    and written by this attempt, mean score, candidate pairs, phase timings (ms), duration.
    A completed run returns its stored summary with ``already_completed`` and writes nothing.
    """
    started = time.perf_counter()
    state = start_run(timezone, local_date, now or datetime.now(UTC))
    if state.completed:
        return {**state.summary, "already_completed": True, "offers_written": 0}
    run_input = read_input(timezone, local_date, state.as_of)
    read_done = time.perf_counter()
    offers = decide(run_input)
    decide_done = time.perf_counter()
    chunks = [slice(start, start + chunk_size) for start in range(0, len(offers), chunk_size)]
    # Chunks are independent transactions on disjoint rows: two connections at once keep both
    # of the database's cores busy (foreign-key checks and index inserts are its work).
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        written = sum(
            pool.map(
                lambda rows: write_chunk(
                    timezone, local_date, state.as_of, run_input.population.ids, offers, rows
                ),
                chunks,
            )
        )
    population = run_input.population
    offered = np.zeros(len(population), dtype=bool)
    offered[offers.lo] = offered[offers.hi] = True
    summary: dict[str, Any] = {
        "eligible_users": int(population.subject.sum()),
        "users_with_offers": int((offered & population.subject).sum()),
        "offers_selected": len(offers),
        "mean_score": round(float(offers.score.mean()), 4) if len(offers) else None,
    }
    summary["duration_ms"] = int((time.perf_counter() - started) * 1000)
    finish_run(timezone, local_date, run_input, offers, summary, chunk_size=chunk_size)
    done = time.perf_counter()
    summary.update(
        offers_written=written,
        people_read=len(population),
        candidate_pairs=offers.candidates,
        users_with_candidates=offers.subjects_with_candidates,
        attempts=state.summary["attempts"],
        timings_ms={
            "read": int((read_done - started) * 1000),
            **offers.timings_ms,
            "decide": int((decide_done - read_done) * 1000),
            "write": int((done - decide_done) * 1000),
        },
        duration_ms=int((done - started) * 1000),
    )
    logger.info(
        "generate_daily %s %s: %d eligible, %d with offers, %d offers written in %d ms",
        timezone,
        local_date,
        summary["eligible_users"],
        summary["users_with_offers"],
        written,
        summary["duration_ms"],
    )
    return summary


@job(
    "matching.generate_daily",
    queue=Queue.MATCHING,
    payload=GeneratePayload,
    max_retries=3,
    min_backoff=10_000,
    time_limit=15 * 60_000,
)
def generate_daily(payload: GeneratePayload) -> dict[str, Any]:
    """Generate one timezone's daily offers for one local date. Idempotent per (timezone,
    local_date); a retry after a crash finishes the same offers (see the module docstring)."""
    return generate(payload.timezone, payload.local_date)


# ---------------------------------------------------------------- expiration

#: Offers one expiration run considers at most (the next hourly run takes the rest).
EXPIRE_PER_RUN = 5_000_000

# The due ids are read once, then expired batch by batch by primary key. Re-reading "the first
# N pending due rows" through the partial index each batch would walk every entry the previous
# batches left dead (until vacuum): quadratic, 60 s instead of seconds for a million offers.
_DUE_IDS = text(
    "SELECT id FROM match_offers WHERE status = 'pending' AND expires_at <= :now "
    "ORDER BY id LIMIT :limit"
)
_EXPIRE_BATCH = text(
    """
    UPDATE match_offers AS m SET status = 'expired', expired_at = :now
    FROM (SELECT id FROM match_offers
          WHERE id = ANY(:ids) AND status = 'pending' AND expires_at <= :now
          FOR UPDATE SKIP LOCKED) AS due
    WHERE m.id = due.id
    """
)


def expire_due(now: datetime, *, batch_size: int, time_budget_s: float) -> dict[str, Any]:
    """Expire pending offers whose ``expires_at`` is at or before ``now``, batch by batch.
    Returns the count, the batches and whether all due offers were seen (False: the time
    budget was spent or more than ``EXPIRE_PER_RUN`` were due). Each batch rechecks the status
    under its lock, so an offer answered meanwhile is left alone."""
    deadline = time.monotonic() + time_budget_s
    with session_scope() as session:
        due = list(session.scalars(_DUE_IDS, {"now": now, "limit": EXPIRE_PER_RUN}))

    def expire_batch(number: int, ids: list[int]) -> int | None:
        if number > 0 and time.monotonic() >= deadline:
            return None  # budget spent: left for the next run (the first batch always runs)
        with session_scope() as session:
            result = session.execute(_EXPIRE_BATCH, {"now": now, "ids": ids})
            return cast(CursorResult[Any], result).rowcount

    batches = [due[start : start + batch_size] for start in range(0, len(due), batch_size)]
    # Disjoint batches on two connections at once: both database cores do index writes.
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        counts = list(pool.map(expire_batch, range(len(batches)), batches))
    done = [count for count in counts if count is not None]
    return {
        "expired": sum(done),
        "batches": len(done),
        "complete": len(done) == len(batches) and len(due) < EXPIRE_PER_RUN,
    }


@job(
    "matching.expire_offers",
    queue=Queue.MATCHING,
    payload=ExpirePayload,
    max_retries=3,
    time_limit=5 * 60_000,
)
def expire_offers(payload: ExpirePayload) -> dict[str, Any]:
    """Expire due pending offers (hourly). Reruns are harmless: an expired offer is no longer
    pending. Rows locked by someone else are skipped this time and expired on the next run."""
    return expire_due(
        payload.now or datetime.now(UTC),
        batch_size=payload.batch_size,
        time_budget_s=payload.time_budget_s,
    )
