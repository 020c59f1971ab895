"""Server time of the operator console's pages over 1,000,000 ``job_runs`` rows.

Creates a scratch database (``yoked_bench_console_<id>``), migrates it, fills ``job_runs``
with ``--rows`` runs over 30 days (8 actors, 6 queues, 3 % failed or dead with an error, some
with idempotency keys and replays), then requests each page ``--repeat`` times in process
(Starlette's test client, cookie session, no network) and prints p50 / p95 / max per page and
the process's peak memory. The database is dropped at the end, whatever happens.

Target: p95 <= 150 ms for the overview and the runs list.
Server: TEST_DATABASE_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import time
import uuid

import psycopg
from starlette.testclient import TestClient

from yoked_actors import db, migrate
from yoked_actors.console.app import create_app
from yoked_actors.console.users import add_user
from yoked_actors.settings import load_settings

ADMIN_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
FILL = """
INSERT INTO job_runs (message_id, actor, queue, status, status_rank, attempts, enqueued_at,
    started_at, finished_at, duration_ms, error_type, error_message, idempotency_key,
    replay_of, payload, updated_at)
SELECT md5(i::text || 'm'),
       (ARRAY['matching.generate_daily','matching.expire_offers','moderation.moderate_message',
              'notifications.send_batches','notifications.poll_receipts',
              'analytics.aggregate_daily','maintenance.prune_runs','system.ping'])[1 + i % 8],
       (ARRAY['matching','matching','moderation','notifications','notifications','analytics',
              'maintenance','maintenance'])[1 + i % 8],
       CASE WHEN i % 100 < 2 THEN 'failed' WHEN i % 100 = 2 THEN 'dead'
            WHEN i % 1000 = 999 THEN 'running' ELSE 'succeeded' END,
       3, 1 + (i % 3 = 0)::int, t, t, t + interval '40 ms', 5 + (i % 200),
       CASE WHEN i % 100 < 3 THEN 'TransientError' END,
       CASE WHEN i % 100 < 3 THEN 'connection reset by peer #' || (i % 17) END,
       CASE WHEN i % 10 = 0 THEN 'key-' || i END,
       CASE WHEN i % 500 = 1 THEN md5((i - 1)::text || 'm') END,
       CASE WHEN i % 100 < 3 THEN '{"args": [], "kwargs": {"note": "x"}}'::jsonb END,
       t
FROM (SELECT i, now() - (i * (interval '30 days' / %(rows)s)) AS t
      FROM generate_series(1, %(rows)s) AS i) s
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    name = f"yoked_bench_console_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        run(name, args.rows, args.repeat)
    finally:
        db.dispose()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(name: str, rows: int, repeat: int) -> None:
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    migrate.upgrade(url)
    settings = load_settings({"DATABASE_URL": url, "YOKED_ENV": "test"})
    db.configure(settings, url=url)
    started = time.perf_counter()
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(FILL.replace("%(rows)s", str(int(rows))))
        conn.execute("VACUUM ANALYZE job_runs")
        dead = conn.execute(
            "SELECT message_id FROM job_runs WHERE status = 'dead' LIMIT 1"
        ).fetchone()
    print(f"filled {rows:,} job_runs rows in {time.perf_counter() - started:.1f} s")
    with db.session_scope() as session:
        add_user(session, "bench", "viewer", "bench password")
    client = TestClient(create_app(settings), base_url="http://127.0.0.1")
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    client.post("/login", data={"name": "bench", "password": "bench password", "login_csrf": token})
    second = client.get("/runs?format=json").json()["next"]
    pages = {
        "overview": "/",
        "runs list": "/runs",
        "runs list, page 2": f"/runs?after={second}",
        "runs status=dead": "/runs?status=dead",
        "runs actor+since 2h": "/runs?actor=system.ping&since=2h",
        "runs error text": "/runs?error=reset",
        "run page": f"/runs/{dead[0] if dead else 'x'}",
        "schedules": "/schedules",
        "bulk replay preview (1000)": "/replay?status=dead",
    }
    print(f"{'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  target")
    for label, path in pages.items():
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            reply = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            assert reply.status_code == 200, (path, reply.status_code, reply.text[:200])
        target = "p95 <= 150" if label in ("overview", "runs list") else ""
        print(
            f"{label:<28} {statistics.median(times):8.1f} {percentile(times, 0.95):8.1f} "
            f"{max(times):8.1f}  {target}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (this process): {peak:.0f} MiB; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
