"""Benchmark: daily match generation for one timezone, and the expiration of pending offers.

    .venv/bin/python bench/matching.py                 # 300,000 users, 1,000,000 offers to expire
    .venv/bin/python bench/matching.py --users 1000000 --expire 0
    .venv/bin/python bench/matching.py --shards 2 --expire 0   # and the same day in 2 shards
    .venv/bin/python bench/matching.py --floors 2  # and the floors, 2 rounds (matching_writes.py)

Seeds a scratch database (created here, dropped at the end) through COPY with synthetic users
clustered like the real thing: cities of Zipf-like sizes along the US east coast (5 % of the
users in Central-time cities next to them, so cross-timezone candidates exist), gyms inside
cities (most users at a gym), mixed gender / age / distance preferences, 3 % ineligible
(suspended, deleted, inactive), a block for 1 % of users and 30 days of earlier offers. Then it
runs the job as its own process (``yoked run matching.generate_daily`` under ``/usr/bin/time
-v``) and prints its wall time and peak RSS, the read / candidates / score / select / write
times, the peak RSS at each phase's end and the coverage; then a second run (must write
nothing). With ``--shards N`` it then runs the same day split into N shards (each shard its own
process, with its peak RSS) and prints coverage and mean score of both side by side. Last it
seeds ``--expire`` pending offers already past ``expires_at`` and times
``matching.expiration.expire_due``.

Targets: 300k users <= 10 s and <= 300 MB peak RSS in the job process; 1M users <= 40 s and
<= 800 MB unsharded; sharded within 1 % of unsharded in coverage and mean score; 1M
expirations <= 6 s. Figures depend on the machine
and its load (docs/matching.md, "Figures"): the run prints the load average and core count.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import matching_writes
import numpy as np
import psycopg

from yoked_actors import db, migrate
from yoked_actors.matching import generation, sharding
from yoked_actors.models.contract import GOALS
from yoked_actors.settings import load_settings

ADMIN_URL = os.environ.get(
    "BENCH_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TZ = "America/New_York"
DAY = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)

# (lat, lon, timezone) of city centres; sizes follow a Zipf law in this order.
# fmt: off
CITIES = [
    (40.71, -74.01, TZ), (42.36, -71.06, TZ), (39.95, -75.17, TZ), (38.91, -77.04, TZ),
    (33.75, -84.39, TZ), (25.76, -80.19, TZ), (42.33, -83.05, TZ), (35.23, -80.84, TZ),
    (39.29, -76.61, TZ), (28.54, -81.38, TZ), (27.95, -82.46, TZ), (40.44, -79.99, TZ),
    (41.50, -81.69, TZ), (39.96, -83.00, TZ), (39.10, -84.51, TZ), (35.78, -78.64, TZ),
    (36.85, -76.29, TZ), (43.05, -76.15, TZ), (42.89, -78.88, TZ), (41.82, -71.41, TZ),
    (38.25, -85.76, TZ), (39.77, -86.16, TZ), (30.33, -81.66, TZ), (32.08, -81.09, TZ),
    (34.00, -81.03, TZ), (41.76, -72.68, TZ), (43.66, -70.26, TZ), (44.48, -73.21, TZ),
]
# fmt: on
NEIGHBOURS = [
    (41.88, -87.63, "America/Chicago"),
    (36.16, -86.78, "America/Chicago"),
    (41.59, -87.35, "America/Chicago"),
]


def seed_users(conn: psycopg.Connection, n: int, rng: np.random.Generator) -> np.ndarray:
    """COPY ``n`` users; returns their ids in order."""
    n_near = n // 20
    sizes = 1 / np.arange(1, len(CITIES) + 1)
    city = np.concatenate(
        (
            rng.choice(len(CITIES), size=n - n_near, p=sizes / sizes.sum()),
            len(CITIES) + rng.integers(0, len(NEIGHBOURS), size=n_near),
        )
    )
    centres = np.array([(c[0], c[1]) for c in CITIES + NEIGHBOURS])
    zones = np.array([c[2] for c in CITIES + NEIGHBOURS])
    # Gyms: one per ~250 users of a city, spread over ~15 km; 75 % of users train at one.
    gym = -np.ones(n, dtype=np.int64)
    at_gym = rng.random(n) < 0.75
    gym[at_gym] = city[at_gym] * 10_000 + rng.integers(
        0, np.maximum(1, np.bincount(city)[city[at_gym]] // 250)
    )
    spread = np.where(at_gym[:, None], 0.003, 0.12) * rng.normal(size=(n, 2))
    base = centres[city] + spread
    gym_ids, gym_of = np.unique(gym, return_inverse=True)
    gym_offset = rng.normal(0, 0.12, size=(len(gym_ids), 2))
    base[at_gym] += gym_offset[gym_of[at_gym]]
    gender = rng.choice(["man", "woman", "nonbinary"], size=n, p=[0.55, 0.42, 0.03])
    seek_kind = rng.choice(4, size=n, p=[0.6, 0.25, 0.1, 0.05])
    age = np.clip(rng.normal(31, 8, n), 18, 70).astype(int)
    narrow = rng.random(n) < 0.5
    age_min = np.where(narrow, np.maximum(18, age - rng.integers(4, 12, n)), 18)
    age_max = np.where(narrow, age + rng.integers(4, 15, n), 99)
    max_km = rng.choice([5, 10, 15, 25, 50], size=n, p=[0.15, 0.3, 0.2, 0.25, 0.1])
    level = rng.integers(1, 6, n)
    goal_count = rng.integers(1, 5, n)
    slots = rng.integers(0, 4, size=(n, 2))
    days = rng.random((n, 7)) < 0.6
    status = rng.choice(["active", "suspended", "deactivated"], size=n, p=[0.98, 0.01, 0.01])
    deleted = rng.random(n) < 0.01
    active_days = np.where(rng.random(n) < 0.97, rng.integers(0, 14, n), rng.integers(15, 60, n))
    ids = np.array([str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)])
    goal_order = np.argsort(rng.random((n, len(GOALS))), axis=1)
    goal_names = np.array(GOALS)
    availability = np.zeros(n, dtype=np.int64)
    for d in range(7):
        for column in (0, 1):
            availability |= np.where(days[:, d], np.int64(1) << (d * 4 + slots[:, column]), 0)
    seeking_options: dict[int, list[str]] = {0: [], 2: ["man", "woman"], 3: ["woman"]}
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY users (id, status, deleted_at, timezone, birthdate, gender, seeking_genders,"
            " age_min, age_max, max_distance_km, lat, lon, gym_id, level, goals, availability,"
            " last_active_at) FROM STDIN"
        ) as copy,
    ):
        for i in range(n):
            kind = int(seek_kind[i])
            copy.write_row(
                (
                    ids[i],
                    status[i],
                    NOW - timedelta(days=3) if deleted[i] else None,
                    zones[city[i]],
                    date(2026 - int(age[i]), 6, 15),
                    gender[i],
                    [gender[i]] if kind == 1 else seeking_options[kind],
                    int(age_min[i]),
                    int(age_max[i]),
                    float(max_km[i]),
                    float(base[i, 0]),
                    float(base[i, 1]),
                    int(gym[i]) if gym[i] >= 0 else None,
                    int(level[i]),
                    goal_names[goal_order[i, : goal_count[i]]].tolist(),
                    int(availability[i]),
                    NOW - timedelta(days=int(active_days[i]), hours=3),
                )
            )
    return ids


def seed_history(conn: psycopg.Connection, n: int) -> None:
    """A block for 1 % of users and 30 days of earlier offers (about one per user)."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO blocks (blocker_id, blocked_id) SELECT a.id, b.id FROM "
            "(SELECT id, row_number() OVER (ORDER BY gym_id, id) AS r FROM users) a JOIN "
            "(SELECT id, row_number() OVER (ORDER BY gym_id, id) AS r FROM users) b "
            "ON b.r = a.r + 1 WHERE a.r % 100 = 0"
        )
        cur.execute(
            "INSERT INTO match_offers (user_a_id, user_b_id, local_date, timezone, score, status,"
            " created_at, expires_at) "
            "SELECT least(a.id, b.id), greatest(a.id, b.id), %(day)s::date - 1 - (a.r %% 30)::int,"
            " %(tz)s, 0.5, (ARRAY['accepted','declined','expired'])[1 + a.r %% 3],"
            " %(now)s - make_interval(days => 1 + (a.r %% 30)::int),"
            " %(now)s - make_interval(days => (a.r %% 30)::int) "
            "FROM (SELECT id, row_number() OVER (ORDER BY gym_id, id) AS r FROM users) a JOIN "
            "(SELECT id, row_number() OVER (ORDER BY gym_id, id) AS r FROM users) b "
            "ON b.r = a.r + 2 WHERE a.r %% 2 = 0",
            {"day": DAY, "tz": TZ, "now": NOW},
        )
        cur.execute("ANALYZE")


def run_job_process(url: str, budget_mb: int, job: str = "generate_daily", **extra: int) -> dict:
    """``yoked run matching.<job>`` for the day, as its own process under ``/usr/bin/time -v``;
    prints its wall time and peak RSS, returns its summary. The run record is created first
    with the benchmark's clock, so the job decides as of ``NOW``."""
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO matching_runs (timezone, local_date, as_of) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (TZ, DAY, NOW),
        )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "RABBITMQ_URL": os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        "METRICS_PORT": "0",
        "LOG_LEVEL": "warning",
        "MATCHING_MEMORY_MB": str(budget_mb),
        "STATEMENT_TIMEOUT_MS": "120000",
    }
    payload = json.dumps({"timezone": TZ, "local_date": DAY.isoformat(), **extra})
    command = [sys.executable, "-m", "yoked_actors", "run", f"matching.{job}", "--json"]
    started = time.perf_counter()
    with matching_writes.DatabaseCpu(url.replace("+psycopg", "")) as server:
        done = subprocess.run(
            ["/usr/bin/time", "-v", *command, payload], env=env, capture_output=True, text=True
        )
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the job failed:\n{done.stderr}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", done.stderr)
    summary = dict(json.loads(done.stdout))
    print(
        f"job process (yoked run matching.{job} {payload}, /usr/bin/time -v): wall"
        f" {wall.group(1) if wall else took}, peak RSS"
        f" {int(peak.group(1)) / 1024 if peak else float('nan'):.0f} MB; outside the job"
        f" (start-up, exit) {took - summary.get('duration_ms', 0) / 1000:.2f} s"
    )
    # The CPU the run needs, much steadier than its time under load: the job's own process
    # and the database's backends; over the cores, the least wall time this machine could give.
    times = re.findall(r"(?:User|System) time \(seconds\): (\S+)", done.stderr)
    job_cpu = sum(map(float, times))
    backends = server.by_kind.get("client backend", 0.0)
    total, cores = job_cpu + backends, os.cpu_count() or 1
    others = ", ".join(
        f"{kind} {cpu:.2f} s" for kind, cpu in server.by_kind.items() if kind != "client backend"
    )
    print(
        f"  CPU: job process {job_cpu:.2f} s, its database backends {backends:.2f} s, together"
        f" {total:.2f} s = {total / cores:.2f} s on {cores} cores at best;"
        f" besides: {others or 'none'}"
    )
    return summary


def print_generation(summary: dict) -> None:
    """The run's phases (time and the process's peak RSS at each phase's end) and coverage."""
    t = summary["timings_ms"]
    eligible = summary["eligible_users"]
    print(
        f"generation {TZ} {DAY}: {eligible:,} eligible subjects, {summary['people_read']:,}"
        f" people read (incl. neighbours), {summary['candidate_pairs']:,} fitting pairs"
    )
    print("  " + " | ".join(f"{name} {ms / 1000:.2f} s" for name, ms in t.items()))
    peaks = summary.get("phase_peak_rss_mb", {})
    print("  peak RSS at phase end: " + " | ".join(f"{k} {v} MB" for k, v in peaks.items()))
    print(f"  offers written {summary['offers_written']:,}, mean score {summary['mean_score']}")
    offered, reachable = summary["users_with_offers"], summary["users_with_candidates"]
    print(
        f"  coverage {offered / eligible:.1%} of eligible users have >= 1 offer;"
        f" {reachable / eligible:.1%} had a fitting candidate at all"
        f" ({offered / max(1, reachable):.1%} of those got an offer)"
    )


def reset_day(raw_url: str) -> None:
    """Remove the day's offers, notifications and run records (before the sharded run)."""
    with psycopg.connect(raw_url, autocommit=True) as conn:
        conn.execute("DELETE FROM match_offers WHERE timezone = %s AND local_date = %s", (TZ, DAY))
        conn.execute("DELETE FROM notifications")
        conn.execute("DELETE FROM matching_runs")


def run_sharded(url: str, raw_url: str, shards: int, budget_mb: int) -> dict:
    """The same day split into ``shards``: the planner here, each shard as its own process
    (one after the other, so each peak is its own); returns the run's summary."""
    reset_day(raw_url)
    with psycopg.connect(raw_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO matching_runs (timezone, local_date, as_of) VALUES (%s, %s, %s)",
            (TZ, DAY, NOW),
        )
    sent: list[int] = []
    plan = sharding.planner(TZ, DAY, budget_mb, lambda _t, _d, s: sent.append(s), shards=shards)
    planned = generation.generate(TZ, DAY, now=NOW, plan=plan)
    print(f"sharded run: {planned['shards']} shards sent")
    total = 0.0
    run: dict = {}
    for shard in sent:
        started = time.perf_counter()
        result = run_job_process(url, budget_mb, "generate_shard", shard=shard)
        total += time.perf_counter() - started
        print(
            f"  shard {shard}: {result.get('eligible_users', 0):,} subjects,"
            f" {result['offers_written']:,} offers written, peak RSS {result.get('peak_rss_mb')} MB"
        )
        if "run" in result:
            run = result["run"]
            print(
                f"  border pass (in the last shard's process): {run['border_people']:,} people,"
                f" {run['border_offers']:,} offers across cuts, {run['duration_ms'] / 1000:.2f} s"
            )
    print(f"  shards one after the other: {total:.2f} s")
    return run


def side_by_side(unsharded: dict, sharded: dict) -> None:
    """Coverage and mean score of both runs on the same population."""

    def coverage(summary: dict) -> float:
        return summary["users_with_offers"] / max(1, summary["eligible_users"])

    print(f"{'':24}{'unsharded':>12}{'sharded':>12}{'difference':>12}")
    for label, a, b in (
        ("eligible users", unsharded["eligible_users"], sharded["eligible_users"]),
        ("offers", unsharded["offers_selected"], sharded["offers_selected"]),
        ("coverage", coverage(unsharded), coverage(sharded)),
        ("mean score", unsharded["mean_score"], sharded["mean_score"]),
    ):
        diff = (b - a) / a if a else 0.0
        fmt = "{:>12.4f}" if isinstance(a, float) else "{:>12,}"
        print(f"{label:24}{fmt.format(a)}{fmt.format(b)}{diff:>+11.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=300_000)
    parser.add_argument("--expire", type=int, default=1_000_000, help="offers to expire (0: skip)")
    parser.add_argument("--expire-batch", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--floors", type=int, default=0, help="rounds of the single-statement floors (0: none)"
    )
    parser.add_argument(
        "--shards", type=int, default=0, help="also run the day split into N shards (0: no)"
    )
    parser.add_argument(
        "--budget-mb",
        type=int,
        default=4000,
        help="MATCHING_MEMORY_MB of the unsharded run (high: never sharded on its own)",
    )
    args = parser.parse_args()

    name = f"yoked_bench_matching_{os.getpid()}"
    admin_sync = ADMIN_URL
    with psycopg.connect(admin_sync, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    raw_url = admin_sync.rsplit("/", 1)[0] + "/" + name
    url = raw_url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        migrate.upgrade(url)
        db.configure(
            load_settings({"DATABASE_URL": url, "STATEMENT_TIMEOUT_MS": "120000"}), url=url
        )
        rng = np.random.default_rng(args.seed)
        print(f"load average: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
        started = time.perf_counter()
        with psycopg.connect(raw_url, autocommit=True) as conn:
            seed_users(conn, args.users, rng)
            seed_history(conn, args.users)
            conn.execute("VACUUM ANALYZE")
        print(f"seeded {args.users:,} users + history in {time.perf_counter() - started:.1f} s")

        summary = run_job_process(url, args.budget_mb)
        print_generation(summary)
        again_start = time.perf_counter()
        again = generation.generate(TZ, DAY, now=NOW)
        print(
            f"second run: offers written {again['offers_written']} in"
            f" {time.perf_counter() - again_start:.2f} s"
            f" (already completed: {again.get('already_completed')})"
        )

        if args.floors:
            matching_writes.write_floors(raw_url, TZ, DAY, args.floors)
        if args.shards > 1:
            sharded = run_sharded(url, raw_url, args.shards, args.budget_mb)
            side_by_side(summary, sharded)

        if args.expire:
            matching_writes.run_expiration(
                raw_url, args.expire, args.expire_batch, args.floors, TZ, DAY, NOW
            )
    finally:
        db.dispose()
        with psycopg.connect(admin_sync, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
