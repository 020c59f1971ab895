"""`yoked schedules` (pure computation, no servers) and `yoked schedules fires` (the ledger)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from common_support import utc

from yoked_actors import db
from yoked_actors.scheduling import store

YOKED = [sys.executable, "-m", "yoked_actors"]


def yoked(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if env is None:  # no servers configured at all
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RABBITMQ_URL")}
    return subprocess.run([*YOKED, *args], capture_output=True, text=True, env=env, timeout=60)


def test_listing_on_us_spring_forward_day_needs_no_servers() -> None:
    result = yoked("schedules", "--at", "2026-03-08T06:00:00Z", "--count", "3", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["at"] == "2026-03-08T06:00:00Z"
    by_name = {s["name"]: s for s in listing["schedules"]}
    assert [f["utc"] for f in by_name["daily-match-dispatch"]["next"]] == [
        "2026-03-08T06:15:00Z",
        "2026-03-08T06:30:00Z",
        "2026-03-08T06:45:00Z",
    ]
    assert [f["utc"] for f in by_name["expire-offers"]["next"]] == [
        "2026-03-08T07:00:00Z",
        "2026-03-08T08:00:00Z",
        "2026-03-08T09:00:00Z",
    ]
    assert [f["utc"] for f in by_name["notification-batches"]["next"]] == [
        "2026-03-08T06:05:00Z",
        "2026-03-08T06:10:00Z",
        "2026-03-08T06:15:00Z",
    ]
    assert [f["utc"] for f in by_name["analytics-daily"]["next"]] == [
        "2026-03-09T00:30:00Z",
        "2026-03-10T00:30:00Z",
        "2026-03-11T00:30:00Z",
    ]
    assert [f["utc"] for f in by_name["prune-runs"]["next"]] == [
        "2026-03-09T03:17:00Z",
        "2026-03-10T03:17:00Z",
        "2026-03-11T03:17:00Z",
    ]
    for schedule in listing["schedules"]:
        assert len(schedule["next"]) == 3
        assert {"cron", "timezone", "actor", "actor_declared", "catch_up_s"} <= set(schedule)
        assert schedule["next"][0]["local"].endswith("+00:00")  # every entry is in UTC today


def test_text_listing_and_bad_instant() -> None:
    result = yoked("schedules", "--at", "2026-03-08T06:00:00+01:00", "--count", "1")
    assert result.returncode == 0, result.stderr
    assert "daily-match-dispatch: */15 * * * * (UTC) -> matching.dispatch_daily" in result.stdout
    assert "2026-03-08T05:15:00Z" in result.stdout
    bad = yoked("schedules", "--at", "2026-03-08 06:00")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "Error: --at '2026-03-08 06:00' needs an offset or Z, like 2026-03-08T06:00:00Z"
    ]


def test_fires_lists_the_ledger(clean_db: str, service_env: dict[str, str]) -> None:
    due = utc("2026-03-08T12:00:00")
    with db.session_scope() as session:
        assert store.claim(
            session,
            schedule="every-minute",
            due_at=due,
            actor="system.ping",
            scheduler_id="s1",
            now=due,
        )
        store.mark_enqueued(
            session,
            schedule="every-minute",
            due_at=due,
            message_id="m-1",
            enqueued_at=due + timedelta(milliseconds=250),
        )
        store.record_missed(
            session,
            schedule="every-minute",
            actor="system.ping",
            due_ats=[due + timedelta(minutes=1)],
            detail="scheduler not running at the due time",
            scheduler_id="s1",
            now=due + timedelta(minutes=20),
        )
    result = yoked(
        "schedules", "fires", "--since", "2026-03-08T00:00:00Z", "--json", env=service_env
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["due_at"], r["status"], r["message_id"], r["lateness_ms"]) for r in rows] == [
        ("2026-03-08T12:01:00+00:00", "missed", None, 19 * 60 * 1000),
        ("2026-03-08T12:00:00+00:00", "enqueued", "m-1", 250),
    ]
    text = yoked(
        "schedules",
        "fires",
        "--since",
        "2026-03-08T00:00:00Z",
        "--status",
        "missed",
        env=service_env,
    )
    assert text.returncode == 0, text.stderr
    lines = text.stdout.strip().splitlines()
    assert len(lines) == 1 and "missed" in lines[0] and "scheduler not running" in lines[0]


def test_fires_needs_a_database() -> None:
    result = yoked("schedules", "fires")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("Error: DATABASE_URL is not set")
