"""Benchmark: one UTC day of a 1,000,000-user app aggregated into daily_metrics.

Seeds a scratch database with COPY (foreign-key checks and triggers off while seeding, as a
restore would): users created over the past 400 days, ~20% of them active each of the last 30
days, offers, messages and notifications for the metric day and the day before, push tokens. Then
ANALYZE, and times ``aggregate_day`` for the metric day (per statement and in total, target
<= 30 s), a rerun of it (nothing changes), and the nightly job's full work (the day and the 8
before). The scratch database is dropped at the end, even on failure.

Usage: .venv/bin/python bench/analytics.py [--users 1000000] [--dau 0.2]
Server: TEST_DATABASE_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg

from yoked_actors import db, migrate
from yoked_actors.analytics.daily import SETTLE_DAYS, aggregate_day
from yoked_actors.settings import load_settings

ADMIN_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DAY = date(2026, 3, 10)
START = datetime(2026, 3, 10, tzinfo=UTC)
TIMEZONES = [
    "America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London",
    "Europe/Paris", "Europe/Berlin", "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney",
    "America/Sao_Paulo", "Africa/Lagos", "Asia/Kathmandu",
]  # fmt: skip
CHUNK = 200_000


def _ts(seconds: float) -> str:
    return (START + timedelta(seconds=float(seconds))).isoformat()


def _copy(cur: psycopg.Cursor[tuple[object, ...]], sql: str, lines: Iterator[str]) -> int:
    """COPY text lines in large chunks (one write per chunk keeps Python out of the way)."""
    count, buffer = 0, []
    with cur.copy(sql) as copy:
        for line in lines:
            buffer.append(line)
            if len(buffer) == CHUNK:
                copy.write("\n".join(buffer) + "\n")
                count, buffer = count + len(buffer), []
        if buffer:
            copy.write("\n".join(buffer) + "\n")
            count += len(buffer)
    return count


def seed(url: str, users: int, dau: float) -> dict[str, int]:
    rng = np.random.default_rng(8)
    ids = [str(uuid.UUID(int=int(x))) for x in rng.integers(1, 2**62, users, dtype=np.int64)]
    created = rng.uniform(-400 * 86400, 86400, users)  # up to the end of the metric day
    zones = rng.integers(0, len(TIMEZONES), users)
    suspended = rng.random(users) < 0.001
    counts: dict[str, int] = {}
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # no FK checks / triggers
        counts["users"] = _copy(
            cur,
            "COPY users (id, created_at, timezone, status, suspended_at) FROM STDIN",
            (
                f"{ids[i]}\t{_ts(created[i])}\t{TIMEZONES[zones[i]]}\t"
                + (
                    f"suspended\t{_ts(rng.uniform(-20 * 86400, 86400))}"
                    if suspended[i]
                    else "active\t\\N"
                )
                for i in range(users)
            ),
        )
        per_day = int(users * dau)

        def activity() -> Iterator[str]:
            for back in range(30):
                day = (DAY - timedelta(days=back)).isoformat()
                for i in rng.choice(users, per_day, replace=False):
                    yield f"{ids[i]}\t{day}"

        counts["user_activity_days"] = _copy(
            cur, "COPY user_activity_days (user_id, day) FROM STDIN", activity()
        )

        offers_per_day = users * 3 // 10

        def offers() -> Iterator[str]:
            statuses = ["pending", "accepted", "declined", "expired"]
            responses = ["\\N", "accepted", "declined"]
            for back in (1, 0):
                a = rng.integers(0, users, offers_per_day)
                b = rng.integers(0, users, offers_per_day)
                at = rng.uniform(-back * 86400, (1 - back) * 86400, offers_per_day)
                st = rng.integers(0, 4, offers_per_day)
                ra = rng.integers(0, 3, offers_per_day)
                rb = rng.integers(0, 3, offers_per_day)
                pairs: set[tuple[str, str]] = set()  # the pair is unique per local day
                for k in range(offers_per_day):
                    x, y = sorted((ids[a[k]], ids[b[k]]))
                    if x == y or (x, y) in pairs:
                        continue
                    pairs.add((x, y))
                    ts = START + timedelta(seconds=float(at[k]))
                    yield (
                        f"{x}\t{y}\t{ts.date()}\t{TIMEZONES[zones[a[k]]]}\t0.5\t"
                        f"{statuses[st[k]]}\t{responses[ra[k]]}\t{responses[rb[k]]}\t"
                        f"{ts.isoformat()}\t{(ts + timedelta(days=1)).isoformat()}"
                    )

        counts["match_offers"] = _copy(
            cur,
            "COPY match_offers (user_a_id, user_b_id, local_date, timezone, score, status, "
            "a_response, b_response, created_at, expires_at) FROM STDIN",
            offers(),
        )
        offer_count = counts["match_offers"]
        messages_per_day = users // 2

        def messages() -> Iterator[str]:
            moderation = ["clean"] * 96 + ["flagged"] * 3 + ["hidden"]
            for back in (1, 0):
                at = rng.uniform(-back * 86400, (1 - back) * 86400, messages_per_day)
                offer = rng.integers(1, offer_count + 1, messages_per_day)
                who = rng.integers(0, users, (messages_per_day, 2))
                mod = rng.integers(0, 100, messages_per_day)
                for k in range(messages_per_day):
                    link = str(offer[k]) if k % 10 < 7 else "\\N"
                    yield (
                        f"{uuid.uuid4()}\t{link}\t{ids[who[k, 0]]}\t{ids[who[k, 1]]}\tx\t"
                        f"{_ts(at[k])}\t{moderation[mod[k]]}"
                    )

        counts["messages"] = _copy(
            cur,
            "COPY messages (id, match_offer_id, sender_id, recipient_id, content, created_at, "
            "moderation_status) FROM STDIN",
            messages(),
        )
        notifications_per_day = users * 4 // 10

        def notifications() -> Iterator[str]:
            kinds = ["new_message", "daily_matches", "offer_accepted", "safety"]
            for back in (1, 0):
                at = rng.uniform(-back * 86400, (1 - back) * 86400, notifications_per_day)
                who = rng.integers(0, users, notifications_per_day)
                kind = rng.integers(0, 4, notifications_per_day)
                for k in range(notifications_per_day):
                    stamp = _ts(at[k])
                    sent = k % 20 != 0  # 5% dropped
                    yield (
                        f"{ids[who[k]]}\t{kinds[kind[k]]}\t{stamp}\t"
                        + (f"sent\t{stamp}\t\\N" if sent else f"dropped\t\\N\t{stamp}")
                    )

        counts["notifications"] = _copy(
            cur,
            "COPY notifications (user_id, kind, created_at, status, sent_at, dropped_at) "
            "FROM STDIN",
            notifications(),
        )
        counts["push_tokens"] = _copy(
            cur,
            "COPY push_tokens (user_id, token, platform, active, deactivated_at) FROM STDIN",
            (
                f"{ids[i]}\tExponentPushToken[{i}]\tios\t"
                + (f"false\t{_ts(rng.uniform(-86400, 86400))}" if i % 300 == 0 else "true\t\\N")
                for i in range(users)
            ),
        )
        # What autovacuum does to insert-only tables (PostgreSQL >= 13): statistics and the
        # visibility map, so the timings are not those of a table nobody has vacuumed yet.
        cur.execute("VACUUM (ANALYZE)")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--dau", type=float, default=0.2, help="share of users active per day")
    args = parser.parse_args()

    name = f"yoked_bench_analytics_{os.getpid()}"
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate.upgrade(sa_url)
        started = time.perf_counter()
        counts = seed(url, args.users, args.dau)
        print(f"seeded in {time.perf_counter() - started:.0f} s:")
        for table, n in counts.items():
            print(f"  {table:20} {n:>11,}")
        db.configure(load_settings({"DATABASE_URL": sa_url}), url=sa_url)

        for label in ("first run", "rerun (unchanged)"):
            timings: dict[str, float] = {}
            started = time.perf_counter()
            with db.session_scope() as session:
                metrics, changed = aggregate_day(session, DAY, timings=timings)
            total = time.perf_counter() - started
            print(
                f"\naggregate {DAY}, {label}: {total:.2f} s "
                f"({metrics} metrics, {changed} rows changed; target <= 30 s)"
            )
            for statement, seconds in timings.items():
                print(f"  {statement:20} {seconds:6.2f} s")
            print(f"  {'upsert + commit':20} {total - sum(timings.values()):6.2f} s")

        started = time.perf_counter()
        for back in range(SETTLE_DAYS + 1):
            with db.session_scope() as session:
                aggregate_day(session, DAY - timedelta(days=back))
        print(
            f"\nnightly job's work (the day + {SETTLE_DAYS} settling days): "
            f"{time.perf_counter() - started:.2f} s"
        )
        print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        db.dispose()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
