"""The database side of bench/matching.py: the expiration of due offers, and the floors (what
the database needs at the least for the day's writes and for the expiration), measured on the
same rows as the job (docs/matching.md, "Figures").

- **Write floor**: the day's offers (as the job wrote them) are staged in a table, removed,
  and inserted again by one ``INSERT ... SELECT`` on one connection: into ``match_offers``
  itself, and into a copy of it without indexes, keys or checks (what those cost). With
  ``reasons`` built by ``jsonb_build_object`` (the job's statement) and taken ready-made from
  the stage (what building it costs). Alternating, the day's offers deleted and the table
  vacuumed before each; the job's offers are in place again at the end.
  The day's notifications likewise: the job's statement (``ON CONFLICT``), a plain
  ``INSERT``, and into a bare copy.
- **Expiration**: ``expire_due`` (the job's batches) over seeded due offers; with floors,
  alternating with one ``UPDATE`` of every due offer, the due offers seeded afresh before
  each.

Each line gives the time, the WAL written and the load average.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import date, datetime

import psycopg

from yoked_actors.matching import expiration
from yoked_actors.matching.scoring import SCORE_VERSION

_STAGE = """
CREATE TABLE floor_stage AS
SELECT user_a_id AS a, user_b_id AS b, score AS s, (reasons->>'distance_km')::float8 AS km,
       (reasons->>'schedule')::float8 AS sc, (reasons->>'distance')::float8 AS di,
       (reasons->>'goals')::float8 AS go, (reasons->>'level')::float8 AS le,
       CASE WHEN (reasons->>'gym')::bool THEN 1.0 ELSE 0.0 END::float8 AS gy,
       reasons, created_at, expires_at
FROM match_offers WHERE timezone = %(tz)s AND local_date = %(day)s
"""

# The job's jsonb (store._INSERT_NEW_OFFERS), from the staged columns.
_BUILT = (
    f"jsonb_build_object('version', {SCORE_VERSION}::int, 'distance_km', km, 'schedule', sc,"
    " 'distance', di, 'goals', go, 'level', le, 'gym', gy = 1)"
)

_INSERT = """
INSERT INTO {table} (user_a_id, user_b_id, local_date, timezone, score, reasons, status,
                     created_at, expires_at)
SELECT a, b, %(day)s, %(tz)s, s, {reasons}, 'pending', created_at, expires_at FROM floor_stage
"""


_NOTICES = """
CREATE TABLE floor_notices AS
SELECT user_id AS u, (payload->>'offers')::int AS n, (payload->>'local_date')::date AS d
FROM notifications WHERE kind = 'daily_matches'
"""

# The job's statement (store._INSERT_NOTIFICATIONS), with ON CONFLICT as given.
_INSERT_NOTICES = """
INSERT INTO {table} (user_id, kind, payload, dedupe_key)
SELECT u, 'daily_matches',
       jsonb_build_object('local_date', d, 'offers', n, 'timezone', %(tz)s::text),
       'daily_matches:' || u::text || ':' || d::text
FROM floor_notices {conflict}
"""


def _wal(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    return int(row[0]) if row else 0


def _server_cpu(conn: psycopg.Connection) -> float:
    """CPU seconds used so far by the database's server processes (on this machine): on a
    shared machine the time varies with the load, the CPU used much less."""
    total = 0.0
    pids = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    for (pid,) in conn.execute(pids).fetchall():
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class DatabaseCpu:
    """The CPU seconds of the database's processes (this database's only, so other work on the
    machine does not count) while a block runs, by kind (``client backend``, ``autovacuum
    worker``), the ones that exit during it included: a thread reads each process's CPU time
    every 0.1 s and keeps the last reading, so one that exits loses at most its last 0.1 s."""

    def __init__(self, raw_url: str) -> None:
        self.raw_url = raw_url
        self.by_kind: dict[str, float] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._done = threading.Event()

    def __enter__(self) -> DatabaseCpu:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()
        for kind, cpu in self._last.values():
            self.by_kind[kind] = self.by_kind.get(kind, 0.0) + cpu

    def _sample(self) -> None:
        with psycopg.connect(self.raw_url, autocommit=True) as conn:
            start = {pid: cpu for pid, _, cpu in self._read(conn)}
            while not self._done.wait(0.1):
                for pid, kind, cpu in self._read(conn):
                    self._last[pid] = (kind, cpu - start.get(pid, 0.0))

    @staticmethod
    def _read(conn: psycopg.Connection) -> list[tuple[int, str, float]]:
        rows = conn.execute(
            "SELECT pid, backend_type FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        tick, found = os.sysconf("SC_CLK_TCK"), []
        for pid, kind in rows:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found.append((pid, kind, (int(fields[11]) + int(fields[12])) / tick))
        return found


def _measure(conn: psycopg.Connection, label: str, work: Callable[[], int]) -> None:
    """Run ``work`` (returns the rows it did) and print its time, the server processes' CPU
    time, the WAL written and the load average before it."""
    load, wal, cpu = os.getloadavg()[0], _wal(conn), _server_cpu(conn)
    started = time.perf_counter()
    rows = work()
    took = time.perf_counter() - started
    cpu, written = _server_cpu(conn) - cpu, (_wal(conn) - wal) / 2**20
    print(
        f"  {label:50} {rows:>9,} rows {took:6.2f} s  server CPU {cpu:6.2f} s"
        f"  WAL {written:5.0f} MB  load {load:4.1f}"
    )


def _timed(conn: psycopg.Connection, label: str, statement: str, params: dict) -> None:
    _measure(conn, label, lambda: conn.execute(statement, params).rowcount)


#: (label, DDL run first in the same transaction or "", the statement timed)
Variant = tuple[str, str, str]


def _alternate(
    conn: psycopg.Connection, table: str, variants: list[Variant], rounds: int, params: dict
) -> None:
    """Each variant in a transaction rolled back (an index dropped there is back at once, and
    every variant starts from the same rows), the table vacuumed and a checkpoint before each
    (the same full-page images to write each time); ``rounds`` times, alternating."""
    for _ in range(rounds):
        for label, setup, statement in variants:
            conn.execute(f"VACUUM {table}")
            conn.execute("CHECKPOINT")
            with conn.transaction(force_rollback=True):
                if setup:
                    conn.execute(setup)
                _timed(conn, label, statement, params)


def _drop(index: str) -> str:
    return f"DROP INDEX {index}"


def write_floors(raw_url: str, tz: str, day: date, rounds: int) -> None:
    """The day's offers and notifications inserted again in one statement, alternating the
    variants; at the end they are in place again."""
    params = {"tz": tz, "day": day}
    mine = "timezone = %(tz)s AND local_date = %(day)s"
    with psycopg.connect(raw_url, autocommit=True) as conn:
        conn.execute(_STAGE, params)
        differ = f"SELECT count(*) FROM floor_stage WHERE ({_BUILT})::text <> reasons::text"
        print(
            f"write floor: offers whose reasons jsonb_build_object would write otherwise:"
            f" {conn.execute(differ).fetchone()}"
        )
        conn.execute("ALTER TABLE floor_stage ADD COLUMN reasons_text text")
        conn.execute("UPDATE floor_stage SET reasons_text = reasons::text")
        conn.execute("CREATE TABLE floor_bare (LIKE match_offers INCLUDING DEFAULTS)")
        conn.execute(f"DELETE FROM match_offers WHERE {mine}", params)
        # The job's INSERT takes reasons as the COPY parsed them (store.reasons).
        job = _INSERT.format(table="match_offers", reasons="reasons")
        built = _INSERT.format(table="match_offers", reasons=_BUILT)
        bare = _INSERT.format(table="floor_bare", reasons="reasons")
        variants: list[Variant] = [
            ("match_offers: the job's INSERT", "", job),
            ("  reasons by jsonb_build_object (before)", "", built),
            ("  without ix_match_offers_created_at", _drop("ix_match_offers_created_at"), job),
            ("  without ix_match_offers_user_b", _drop("ix_match_offers_user_b"), job),
            (
                "  without ix_match_offers_pending_expiry",
                _drop("ix_match_offers_pending_expiry"),
                job,
            ),
            ("bare copy (no index, key, check, trigger)", "", bare),
            (
                "  reasons parsed from text (the COPY's part)",
                "",
                _INSERT.format(table="floor_bare", reasons="reasons_text::jsonb"),
            ),
            (
                "  reasons by jsonb_build_object",
                "",
                _INSERT.format(table="floor_bare", reasons=_BUILT),
            ),
        ]
        _alternate(conn, "match_offers", variants, rounds, params)
        conn.execute(job, params)
        conn.execute("DROP TABLE floor_stage, floor_bare")

        conn.execute(_NOTICES)
        conn.execute("CREATE TABLE floor_bare (LIKE notifications INCLUDING DEFAULTS)")
        conn.execute("DELETE FROM notifications WHERE kind = 'daily_matches'")
        on_conflict = "ON CONFLICT (dedupe_key) DO NOTHING"
        job = _INSERT_NOTICES.format(table="notifications", conflict="")
        trigger = "DROP TRIGGER analytics_stamp_dropped_at ON notifications"
        variants = [
            ("notifications: the job's INSERT (no other run's)", "", job),
            ("  ON CONFLICT (dedupe_key) DO NOTHING", "", job + on_conflict),
            ("  without ix_notifications_sent_at", _drop("ix_notifications_sent_at"), job),
            ("  without ix_notifications_pending", _drop("ix_notifications_pending"), job),
            ("  without ix_notifications_user", _drop("ix_notifications_user"), job),
            ("  without the dropped_at trigger (analytics)", trigger, job),
            ("bare copy", "", _INSERT_NOTICES.format(table="floor_bare", conflict="")),
        ]
        _alternate(conn, "notifications", variants, rounds, params)
        conn.execute(job, params)
        conn.execute("DROP TABLE floor_notices, floor_bare")


_SEED_DUE = """
INSERT INTO match_offers (user_a_id, user_b_id, local_date, timezone, score, status, created_at,
                          expires_at)
SELECT least(a.id, b.id), greatest(a.id, b.id), %(day)s::date - 40, %(tz)s, 0.5, 'pending',
       %(now)s - interval '30 hours', %(now)s - interval '6 hours'
FROM (SELECT id, row_number() OVER (ORDER BY id) AS r FROM users) a
CROSS JOIN generate_series(1, 20) AS step
JOIN (SELECT id, row_number() OVER (ORDER BY id) AS r FROM users) b ON b.r = a.r + step
LIMIT %(count)s
"""

_EXPIRE_ALL = """
UPDATE match_offers SET status = 'expired', expired_at = %(now)s
WHERE status = 'pending' AND expires_at <= %(now)s
"""

# A million-row UPDATE's WAL and dirty pages depend on these (docs/matching.md).
_SETTINGS = """
SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings
WHERE name IN ('shared_buffers', 'wal_buffers', 'max_wal_size', 'checkpoint_timeout',
               'wal_compression')
"""


def seed_due(conn: psycopg.Connection, count: int, tz: str, day: date, now: datetime) -> int:
    """``count`` pending offers already past expires_at (pairs of users k and k + step, local
    date ``day`` - 40), in place of those seeded before."""
    conn.execute("DELETE FROM match_offers WHERE local_date = %s::date - 40", (day,))
    params = {"day": day, "tz": tz, "now": now, "count": count}
    inserted = conn.execute(_SEED_DUE, params).rowcount
    conn.execute("VACUUM ANALYZE match_offers")
    conn.execute("CHECKPOINT")  # every variant starts with the same full-page images to write
    return inserted


def _expire_due(conn: psycopg.Connection, now: datetime, batch_size: int) -> None:
    def expire() -> int:
        return int(expiration.expire_due(now, batch_size=batch_size, time_budget_s=600)["expired"])

    _measure(conn, f"expire_due, batches of {batch_size:,}", expire)


def run_expiration(
    raw_url: str,
    count: int,
    batch_size: int,
    rounds: int,
    tz: str,
    day: date,
    now: datetime,
) -> None:
    """``count`` due offers expired by ``expire_due``; with ``rounds``, alternating with one
    UPDATE of them all (the floor), the due offers seeded afresh before each."""
    with psycopg.connect(raw_url, autocommit=True) as conn:
        row = conn.execute(_SETTINGS).fetchone()
        print(f"expiration; server: {row[0] if row else '?'}")
        for _ in range(max(1, rounds)):
            if rounds:
                seed_due(conn, count, tz, day, now)
                _timed(conn, "one UPDATE of every due offer (the floor)", _EXPIRE_ALL, {"now": now})
            seed_due(conn, count, tz, day, now)
            _expire_due(conn, now, batch_size)
        if rounds:
            seed_due(conn, count, tz, day, now)
            update = _EXPIRE_ALL
            variants: list[Variant] = [
                ("one UPDATE of every due offer", "", update),
                (
                    "  without ix_match_offers_created_at",
                    _drop("ix_match_offers_created_at"),
                    update,
                ),
                ("  without ix_match_offers_user_b", _drop("ix_match_offers_user_b"), update),
            ]
            _alternate(conn, "match_offers", variants, rounds, {"now": now})
