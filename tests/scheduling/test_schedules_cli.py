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
        assert schedule["transitions"] == []


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


def test_listing_shows_the_dst_change_among_the_fires() -> None:
    """The issue's example: ``*/15`` in New York keeps firing through the repeated hour, and
    the listing says where the clocks go back and which pass each fire is in."""
    result = yoked(
        "schedules",
        "--cron",
        "*/15 * * * *",
        "--timezone",
        "America/New_York",
        "--at",
        "2026-11-01T05:30:00Z",
        "--count",
        "6",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2:] == [
        "*/15 * * * * (America/New_York)",
        "  2026-11-01T05:45:00Z   2026-11-01T01:45:00-04:00  (repeated hour, first pass)",
        "  -- 2026-11-01T06:00:00Z  clocks go back: 02:00 -04:00 -> 01:00 -05:00",
        "  2026-11-01T06:00:00Z   2026-11-01T01:00:00-05:00  (repeated hour, second pass)",
        "  2026-11-01T06:15:00Z   2026-11-01T01:15:00-05:00  (repeated hour, second pass)",
        "  2026-11-01T06:30:00Z   2026-11-01T01:30:00-05:00  (repeated hour, second pass)",
        "  2026-11-01T06:45:00Z   2026-11-01T01:45:00-05:00  (repeated hour, second pass)",
        "  2026-11-01T07:00:00Z   2026-11-01T02:00:00-05:00",
    ]


def test_json_listing_of_a_fixed_time_across_the_spring_gap() -> None:
    result = yoked(
        "schedules",
        "--cron",
        "30 2 * * *",
        "--timezone",
        "America/New_York",
        "--at",
        "2026-03-07T00:00:00Z",
        "--count",
        "3",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)["schedules"]
    assert entry["next"] == [
        {"utc": "2026-03-07T07:30:00Z", "local": "2026-03-07T02:30:00-05:00"},
        {
            "utc": "2026-03-08T07:00:00Z",
            "local": "2026-03-08T03:00:00-04:00",
            "dst": "end of the gap: stands in for 02:30, skipped by the clock",
        },
        {"utc": "2026-03-09T06:30:00Z", "local": "2026-03-09T02:30:00-04:00"},
    ]
    assert entry["transitions"] == [
        {
            "utc": "2026-03-08T07:00:00Z",
            "clocks": "forward",
            "from": "02:00 -05:00",
            "to": "03:00 -04:00",
        }
    ]


def test_a_bad_cron_preview_is_a_one_line_error() -> None:
    result = yoked("schedules", "--cron", "5/15 * * * *")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: --cron '5/15 * * * *' --timezone 'UTC': cron minute field '5/15': "
        "a step needs a range or *, like 5-59/.."
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
        ("2026-03-08T12:01:00.000Z", "missed", None, 19 * 60 * 1000),
        ("2026-03-08T12:00:00.000Z", "enqueued", "m-1", 250),
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
