"""Every SQL statement of daily matching: runs, the bulk read, offer and notification writes,
expiration, and the daily dispatcher's claims (docs/matching.md, docs/scheduling.md).

Each function takes a :class:`~sqlalchemy.orm.Session` and works inside its transaction: none
begins, commits or rolls back. The caller (``matching.generation``, ``matching.expiration``,
``matching.dispatch``) decides what commits together. Statements that read or write hundreds of
thousands of values run with binary parameters and results on a driver cursor
(:func:`yoked_actors.sql.execute_binary`) and write through binary ``COPY``
(:func:`yoked_actors.sql.copy_arrays`) and read through binary ``COPY ... TO``
(:func:`yoked_actors.sql.copy_out_arrays`): no ORM row, no Python object per value.

Modules: this one (run records, writes, expiration, the dispatcher's claims), :mod:`.people`
(who is served, and the run's bulk read) and :mod:`.shards` (sharded runs).

Who is served is defined once, in :mod:`.people` (``ACTIVE_USER``, ``ELIGIBLE_USER``), for
both the dispatcher's and the generator's queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from sqlalchemy.orm import Session

from yoked_actors import sql
from yoked_actors.matching.run import OFFER_TTL, Notices, Offers
from yoked_actors.matching.store.people import (
    ACTIVE_USER,
    ACTIVE_WITHIN,
    ELIGIBLE_USER,
    PEOPLE_COLUMNS,
    RunArrays,
    active_since,
    read_run,
)
from yoked_actors.matching.store.reasons import reasons_jsonb

__all__ = [
    "ACTIVE_USER",
    "ACTIVE_WITHIN",
    "ELIGIBLE_USER",
    "PEOPLE_COLUMNS",
    "RunArrays",
    "active_since",
    "read_run",
]

# ---------------------------------------------------------------- run record

_START_RUN = """
INSERT INTO matching_runs (timezone, local_date, as_of) VALUES (:timezone, :local_date, :now)
ON CONFLICT (timezone, local_date) DO UPDATE
SET attempts = matching_runs.attempts + 1 WHERE matching_runs.status = 'running'
"""

_READ_RUN = """
SELECT status, as_of, shard_cuts, eligible_users, users_with_offers, offers_selected,
       offers_written AS offers_written_total, mean_score, duration_ms, peak_rss_mb, attempts
FROM matching_runs WHERE timezone = :timezone AND local_date = :local_date
"""

_COUNT_CHUNK = """
UPDATE matching_runs SET chunks_done = chunks_done + 1, offers_written = offers_written + :inserted
WHERE timezone = :timezone AND local_date = :local_date
"""

_COMPLETE_RUN = """
UPDATE matching_runs SET status = 'completed', completed_at = now(),
       eligible_users = :eligible_users, users_with_offers = :users_with_offers,
       offers_selected = :offers_selected, mean_score = :mean_score, duration_ms = :duration_ms,
       peak_rss_mb = :peak_rss_mb
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
    #: The longitudes splitting a sharded run into bands; None: not sharded (yet).
    shard_cuts: list[float] | None = None


def start_run(session: Session, timezone: str, local_date: date, now: datetime) -> RunRecord:
    """Create the run record (its ``as_of`` is ``now``), or count another attempt on it."""
    key = {"timezone": timezone, "local_date": local_date}
    sql.execute(session, _START_RUN, {**key, "now": now})
    (row,) = sql.execute(session, _READ_RUN, key)
    summary = row._asdict()
    return RunRecord(
        completed=summary.pop("status") == "completed",
        as_of=summary.pop("as_of"),
        shard_cuts=summary.pop("shard_cuts"),
        summary=summary,
    )


def get_run(session: Session, timezone: str, local_date: date) -> RunRecord | None:
    """The run's record, if it was started."""
    rows = sql.execute(session, _READ_RUN, {"timezone": timezone, "local_date": local_date})
    if not rows:
        return None
    summary = rows[0]._asdict()
    return RunRecord(
        completed=summary.pop("status") == "completed",
        as_of=summary.pop("as_of"),
        shard_cuts=summary.pop("shard_cuts"),
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
    offers_selected, mean_score, duration_ms, peak_rss_mb)."""
    sql.execute(session, _COMPLETE_RUN, {**summary, "timezone": timezone, "local_date": local_date})


# ---------------------------------------------------------------- write

_OFFER_ROWS = "CREATE TEMP TABLE offer_rows (a uuid, b uuid, s float8, r jsonb) ON COMMIT DROP"
_OFFER_COLUMNS = ("a", "b", "s", "r")

# reasons: built by numpy (.reasons), parsed by the COPY; the same jsonb as
# jsonb_build_object('version', ..., 'gym', ...) of the rounded values, at a third of its cost.
_INSERT_NEW_OFFERS = """
INSERT INTO match_offers (user_a_id, user_b_id, local_date, timezone, score, reasons, status,
                          created_at, expires_at)
SELECT a, b, :local_date, :timezone, s, r, 'pending', :as_of, :expires_at
FROM offer_rows
"""

# The same, skipping pairs already offered for the day. ON CONFLICT costs a speculative
# insertion per row (an extra index probe and WAL record: a quarter of the insert's time,
# docs/matching.md "Writing offers"), so it only runs for a chunk that has such a pair.
_INSERT_OFFERS = _INSERT_NEW_OFFERS + "ON CONFLICT (user_a_id, user_b_id, local_date) DO NOTHING\n"

_NOTIFICATION_ROWS = "CREATE TEMP TABLE notification_rows (u uuid, n int4, d date) ON COMMIT DROP"
_NOTIFICATION_COLUMNS = ("u", "n", "d")

_INSERT_NEW_NOTIFICATIONS = """
INSERT INTO notifications (user_id, kind, payload, dedupe_key)
SELECT u, 'daily_matches',
       jsonb_build_object('local_date', d, 'offers', n, 'timezone', :timezone::text),
       'daily_matches:' || u::text || ':' || d::text
FROM notification_rows
"""

# The same, skipping a notification already there (same dedupe key): a speculative insertion
# per row, like the offers' (docs/matching.md, "Writing offers").
_INSERT_NOTIFICATIONS = _INSERT_NEW_NOTIFICATIONS + "ON CONFLICT (dedupe_key) DO NOTHING\n"

#: Day 0 of PostgreSQL's binary date.
_PG_EPOCH = np.datetime64("2000-01-01", "D")


def uuid16(ids: npt.NDArray[Any]) -> npt.NDArray[np.void]:
    """User ids as their 16 bytes: read ids already are; uuid strings are converted."""
    return ids if ids.dtype.kind == "V" else sql.uuid_bytes(ids)


def insert_offers(
    session: Session,
    timezone: str,
    local_date: date,
    as_of: datetime,
    ids: npt.NDArray[Any],
    offers: Offers,
    rows: slice,
) -> int:
    """Insert the offers ``rows`` of ``offers`` (``ids``: the people's user ids). Returns the
    rows inserted: a pair already offered for ``local_date`` (an earlier attempt) is skipped."""
    arrays = [
        uuid16(ids[offers.lo[rows]]),
        uuid16(ids[offers.hi[rows]]),
        offers.score[rows],
        reasons_jsonb(offers.km[rows], {name: part[rows] for name, part in offers.parts.items()}),
    ]
    params = {
        "timezone": timezone,
        "local_date": local_date,
        "as_of": as_of,
        "expires_at": as_of + OFFER_TTL,
    }
    with sql.driver_cursor(session, named_rows=False) as cursor:
        sql.execute_binary(cursor, _OFFER_ROWS)
        sql.copy_arrays(cursor, "offer_rows", _OFFER_COLUMNS, arrays)
        # A first attempt's chunk has no pair already offered: plain INSERT. A retried chunk
        # (or a pair a concurrent run wrote) fails at once on the unique key.
        _insert_new_else_skip(cursor, _INSERT_NEW_OFFERS, _INSERT_OFFERS, params)
        return cursor.rowcount


def insert_notifications(session: Session, timezone: str, notices: Notices, rows: slice) -> None:
    """Insert the ``daily_matches`` notifications ``rows`` of ``notices``; one already there
    (same dedupe key ``daily_matches:<user_id>:<local_date>``) is skipped. Rows within
    ``notices.fresh`` are first inserted without ``ON CONFLICT``, like the offers."""
    arrays = [
        uuid16(notices.user_ids[rows]),
        notices.offers[rows].astype(np.int32),
        (notices.local_dates[rows] - _PG_EPOCH).astype(np.int32),
    ]
    with sql.driver_cursor(session, named_rows=False) as cursor:
        sql.execute_binary(cursor, _NOTIFICATION_ROWS)
        sql.copy_arrays(cursor, "notification_rows", _NOTIFICATION_COLUMNS, arrays)
        params = {"timezone": timezone}
        if rows.stop is None or rows.stop > notices.fresh:
            sql.execute_binary(cursor, _INSERT_NOTIFICATIONS, params)
            return
        # No other run offered these people on their own date, so no key is there unless an
        # earlier attempt of this run wrote it.
        _insert_new_else_skip(cursor, _INSERT_NEW_NOTIFICATIONS, _INSERT_NOTIFICATIONS, params)


def _insert_new_else_skip(cursor: Any, insert: str, skipping: str, params: dict[str, Any]) -> None:
    """Run the plain ``insert``; if a row is already there (a unique violation), undo it and
    run ``skipping`` (the same with ``ON CONFLICT DO NOTHING``) instead. The plain statement is
    the common case and saves a speculative insertion per row."""
    sql.execute_binary(cursor, "SAVEPOINT new_rows")
    try:
        sql.execute_binary(cursor, insert, params)
    except psycopg.errors.UniqueViolation:
        sql.execute_binary(cursor, "ROLLBACK TO SAVEPOINT new_rows")
        sql.execute_binary(cursor, skipping, params)


# ---------------------------------------------------------------- expiration

# The due offers are split once into batches of consecutive ids (first id, last id, count),
# then each batch is expired by a primary-key range. Re-reading "the first N pending due rows"
# through the partial index each batch would walk every entry the previous batches left dead
# (until vacuum): quadratic. A range scan of the primary key costs no array of ids to send,
# parse and probe one by one, and the rows of a batch sit on neighbouring pages.
_DUE_BATCHES = """
SELECT min(id), max(id), count(*)::int FROM (
    SELECT id, (row_number() OVER (ORDER BY id) - 1) / :batch_size AS batch
    FROM (SELECT id FROM match_offers WHERE status = 'pending' AND expires_at <= :now
          ORDER BY id LIMIT :limit) AS due
) AS numbered
GROUP BY batch ORDER BY batch
"""

# A plain UPDATE: the status is rechecked on a row another transaction changed meanwhile, so an
# offer answered meanwhile stays answered. Locking each row first (FOR UPDATE SKIP LOCKED) would
# cost one more WAL record and heap write per row (docs/matching.md, "Expiration"), so that is
# only the fallback when a row stays locked longer than EXPIRE_LOCK_WAIT.
_EXPIRE_BATCH = """
UPDATE match_offers SET status = 'expired', expired_at = :now
WHERE id BETWEEN :first AND :last AND status = 'pending' AND expires_at <= :now
"""

_EXPIRE_BATCH_SKIP_LOCKED = """
UPDATE match_offers AS m SET status = 'expired', expired_at = :now
FROM (SELECT id FROM match_offers
      WHERE id BETWEEN :first AND :last AND status = 'pending' AND expires_at <= :now
      FOR NO KEY UPDATE SKIP LOCKED) AS due
WHERE m.id = due.id
"""

#: How long a batch waits for a row someone else has locked before it starts again, skipping
#: locked rows. An API write holds its row for milliseconds.
EXPIRE_LOCK_WAIT = "200ms"


@dataclass(frozen=True)
class DueBatch:
    """Consecutive due offers: ids ``first`` .. ``last``, ``count`` of them due when read."""

    first: int
    last: int
    count: int


def due_batches(session: Session, now: datetime, batch_size: int, limit: int) -> list[DueBatch]:
    """The pending offers whose ``expires_at`` is at or before ``now`` (at most ``limit``,
    lowest ids first), in batches of ``batch_size`` consecutive ids."""
    params = {"now": now, "batch_size": batch_size, "limit": limit}
    return [DueBatch(*row) for row in sql.execute(session, _DUE_BATCHES, params)]


def expire_offers(session: Session, now: datetime, batch: DueBatch) -> int:
    """Expire the offers of ``batch`` that are still pending and due. A row locked by someone
    else for longer than ``EXPIRE_LOCK_WAIT`` is skipped (the batch is redone skipping every
    locked row), never waited on longer. Returns the offers expired."""
    params = {"now": now, "first": batch.first, "last": batch.last}
    with sql.driver_cursor(session, named_rows=False) as cursor:
        sql.execute_binary(cursor, "SAVEPOINT expire_batch")
        sql.execute_binary(cursor, f"SET LOCAL lock_timeout = '{EXPIRE_LOCK_WAIT}'")
        try:
            sql.execute_binary(cursor, _EXPIRE_BATCH, params)
        except psycopg.errors.LockNotAvailable:
            sql.execute_binary(cursor, "ROLLBACK TO SAVEPOINT expire_batch")
            sql.execute_binary(cursor, _EXPIRE_BATCH_SKIP_LOCKED, params)
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
