"""Benchmark: 100,000 pending notifications for 60,000 users, claimed, collapsed and pushed.

Seeds a scratch database (COPY), starts the fake Expo server (tests/notifications/fake_expo.py)
in its own process on 127.0.0.1, and runs ``send_batches`` twice over the same rows: with the
rate limiter off, then on at Expo's 600 notifications/s. Prints wall time, the limiter's waiting,
and time excluding that waiting (target: <= 20 s). The scratch database is dropped at the end.

Usage: .venv/bin/python bench/notifications.py [--users 60000] [--notifications 100000]
Server: TEST_DATABASE_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from yoked_actors import db, migrate
from yoked_actors.notifications.batching import BatchOptions, send_batches
from yoked_actors.notifications.expo import ExpoPushClient
from yoked_actors.settings import PushSettings, load_settings

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
#: 09:00 in New York: the morning a whole timezone gets its daily matches.
NOW = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)


def seed(url: str, users: int, notifications: int) -> None:
    rng = random.Random(7)
    ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(users)]
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY users (id, timezone) FROM STDIN") as copy:
            for i, user_id in enumerate(ids):
                # 90% in a timezone where it is 09:00; 10% where it is 22:00 (quiet: deferred).
                copy.write_row((user_id, "America/New_York" if i % 10 else "Asia/Tokyo"))
        with cur.copy("COPY push_tokens (user_id, token, platform) FROM STDIN") as copy:
            for i, user_id in enumerate(ids):
                devices = 0 if i % 50 == 5 else (2 if i % 10 == 1 else 1)  # 2% have none
                for d in range(devices):
                    copy.write_row((user_id, f"ExponentPushToken[{user_id.hex}-{d}]", "ios"))
        with cur.copy("COPY notifications (user_id, kind, payload, created_at) FROM STDIN") as copy:
            for i in range(notifications):
                user_id = ids[i % users]
                payload: dict[str, object]
                if i < users:
                    kind, payload = "daily_matches", {"count": 1 + i % 3}
                elif i % 4:
                    kind, payload = (
                        "new_message",
                        {"sender_id": str(ids[(i * 7) % users]), "match_offer_id": i % 5000},
                    )
                else:
                    kind, payload = "offer_accepted", {"offer_id": i}
                created = NOW - timedelta(minutes=rng.randint(1, 60))
                copy.write_row((user_id, kind, Jsonb(payload), created))
        cur.execute("ANALYZE")


def reset(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE notification_deliveries")
        conn.execute(
            "UPDATE notifications SET status = 'pending', digest_id = NULL, "
            "deliver_after = NULL, status_reason = NULL, sent_at = NULL"
        )
        conn.execute("UPDATE push_tokens SET active = true")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE notifications")
        conn.execute("VACUUM ANALYZE notification_deliveries")


def one_run(url: str, expo_url: str, rate: int | None, options: BatchOptions) -> None:
    settings = PushSettings(
        provider="expo",
        base_url=expo_url,
        access_token=None,
        rate_limit=rate or 10**9,
        concurrency=6,
        timeout_ms=30_000,
        max_attempts=4,
        backoff_ms=200,
    )
    client = ExpoPushClient(settings)
    cpu = time.process_time()
    started = time.perf_counter()
    try:
        summary = send_batches(client, clock=lambda: NOW, options=options)
    finally:
        client.close()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    # The limiter's pacing cannot take less than pushes / rate (minus the first burst); six
    # request threads wait at once, so summing their waits would overcount.
    floor = max(0.0, (summary["pushes"] - client.limiter.burst) / rate) if rate else 0.0
    label = f"limiter on ({rate}/s)" if rate else "limiter off"
    print(
        f"{label:>20}: {elapsed:6.1f} s wall, {floor:6.1f} s the limiter's pacing, "
        f"{elapsed - floor:5.1f} s excluding it; {summary['pushes']} pushes / "
        f"{summary['digests']} digests from {summary['claimed']} claimed rows "
        f"({summary['deferred']} deferred, {summary['dropped']} dropped, "
        f"{summary['carried']} carried); {cpu:.1f} s CPU in this process",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=60_000)
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--claimers", type=int, default=BatchOptions.claimers)
    parser.add_argument("--chunk", type=int, default=BatchOptions.chunk_rows)
    parser.add_argument(
        "--only-unlimited",
        action="store_true",
        help="skip the run with the limiter on (about 100 s)",
    )
    args = parser.parse_args()
    options = BatchOptions(run_seconds=600, claimers=args.claimers, chunk_rows=args.chunk)

    name = f"yoked_bench_notifications_{os.getpid()}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "notifications" / "fake_expo.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        migrate.upgrade(sa_url)
        db.configure(load_settings({"DATABASE_URL": sa_url}), url=sa_url)
        assert server.stdout is not None
        expo_url = server.stdout.readline().strip()
        t = time.perf_counter()
        seed(url, args.users, args.notifications)
        print(
            f"seeded {args.notifications} notifications for {args.users} users (COPY) in "
            f"{time.perf_counter() - t:.1f} s; fake Expo at {expo_url} (own process); "
            f"{os.cpu_count()} cores shared with other work, figures are noisy",
            flush=True,
        )
        print(f"claimers={options.claimers} chunk_rows={options.chunk_rows}", flush=True)
        one_run(url, expo_url, None, options)
        if not args.only_unlimited:
            reset(url)
            one_run(url, expo_url, 600, options)
    finally:
        server.terminate()
        server.wait(10)
        db.dispose()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
