"""What each page shows, as plain values: the same dict is rendered as HTML or sent as JSON.

Functions take a session in a read-only transaction; their SQL is in ``console.store`` and
``runs.store``. Nothing here returns a run's payload as it is: :func:`redacted` keeps the keys
and hides the values of personal fields.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from yoked_actors.console import store
from yoked_actors.console.filters import filter_params, page_of
from yoked_actors.models.runs import JobRun
from yoked_actors.runs.events import REPLAYABLE_STATUSES
from yoked_actors.runs.history import run_as_dict
from yoked_actors.runs.store import outbox_status
from yoked_actors.scheduling.cron import fires_between, next_fires
from yoked_actors.scheduling.table import all_schedules
from yoked_actors.settings import Settings

#: Payload keys whose values are personal data or message text: never shown.
PERSONAL = frozenset(
    {
        "content",
        "text",
        "body",
        "message",
        "note",
        "email",
        "phone",
        "name",
        "display_name",
        "bio",
        "token",
        "push_token",
        "expo_token",
        "address",
        "latitude",
        "longitude",
        "lat",
        "lng",
        "location",
        "ip",
    }
)
STUCK_AFTER = timedelta(minutes=30)


def redacted(value: Any, key: str = "") -> Any:
    """``value`` with every personal field's value (and any long text) replaced."""
    if isinstance(value, dict):
        return {k: redacted(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v, key) for v in value]
    if key.lower() in PERSONAL or key.lower().endswith(("_text", "_email", "_name")):
        return "[redacted]"
    if isinstance(value, str) and len(value) > 80:
        return "[redacted: long text]"
    return value


def overview(session: Session, settings: Settings, now: datetime) -> dict[str, Any]:
    from yoked_actors.console.queues import queue_depths

    queues: dict[str, Any] = {"queues": [], "error": "RABBITMQ_MANAGEMENT_URL is not set"}
    if settings.console.management_url:
        queues = queue_depths(settings.console.management_url, settings.rabbitmq_url)
    oldest = store.oldest_queued(session)
    for row in queues["queues"]:
        at = oldest.get(row["name"])
        row["oldest_queued_s"] = None if at is None else round((now - at).total_seconds())
    ping = store.last_ping(session)
    return {
        "now": now,
        "queues": queues["queues"],
        "queues_error": queues["error"],
        "actors": store.actor_health(session, since=now - timedelta(hours=1)),
        "stuck": [run_as_dict(r) for r in store.stuck_runs(session, older_than=now - STUCK_AFTER)],
        "outbox": outbox_status(session),
        "schedules": schedule_rows(session, now),
        "last_ping": None if ping is None else {"received_at": ping.received_at, "note": ping.note},
    }


def runs_page(
    session: Session, f: store.RunFilter, after: tuple[datetime, str] | None, limit: int
) -> dict[str, Any]:
    rows, next_cursor = page_of(
        store.page_runs(session, f, after=after, limit=limit + 1),
        limit,
        lambda r: (r.updated_at, r.message_id),
    )
    return {
        "filters": filter_params(f),
        "runs": [run_as_dict(r) | {"updated_at": r.updated_at} for r in rows],
        "next": next_cursor,
    }


def run_page(session: Session, run: JobRun) -> dict[str, Any]:
    """One run: attempts, timings, error, payload (redacted), replay chain both ways, its fire."""
    chain_back: list[str] = []
    seen = {run.message_id}
    current = run
    while current.replay_of and current.replay_of not in seen and len(chain_back) < 20:
        chain_back.append(current.replay_of)
        seen.add(current.replay_of)
        previous = store.get_run_exact(session, current.replay_of)
        if previous is None:
            break
        current = previous
    fire = store.fire_of(session, run.schedule_fire) if run.schedule_fire else None
    return {
        "run": run_as_dict(run, full=True),
        "payload": None if run.payload is None else redacted(run.payload),
        "replay_of_chain": chain_back,
        "replays": [
            {"message_id": r.message_id, "status": r.status, "updated_at": r.updated_at}
            for r in store.replays_of(session, run.message_id)
        ],
        "fire": None
        if fire is None
        else {
            "schedule": fire.schedule,
            "due_at": fire.due_at,
            "status": fire.status,
            "lateness_ms": fire.lateness_ms,
            "detail": fire.detail,
        },
    }


def _expected_before(spec: Any, now: datetime) -> datetime | None:
    """The latest fire due by ``now``: searched back an hour, then a day, then 8 days (cron
    evaluation is Python; a frequent schedule has thousands of fires in 8 days)."""
    for back in (timedelta(hours=1), timedelta(days=1), timedelta(days=8)):
        fires = fires_between(spec, now - back, now)
        if fires:
            return fires[-1]
    return None


def schedule_rows(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Each schedule: last fire against the expected one, misses in 24 h, paused or not."""
    last = store.last_fires(session)
    paused = store.pauses(session)
    recent = store.fires_since(session, now - timedelta(hours=24))
    rows = []
    for schedule in all_schedules():
        fire = last.get(schedule.name)
        pause = paused.get(schedule.name)
        rows.append(
            {
                "name": schedule.name,
                "actor": schedule.actor_name,
                "cron": schedule.cron,
                "timezone": schedule.timezone,
                "catch_up_s": int(schedule.catch_up.total_seconds()),
                "expected_last": _expected_before(schedule.spec, now),
                "last_due_at": None if fire is None else fire.due_at,
                "last_status": None if fire is None else fire.status,
                "misses_24h": sum(
                    1 for f in recent if f.schedule == schedule.name and f.status == "missed"
                ),
                "paused": None
                if pause is None
                else {"by": pause.paused_by, "reason": pause.reason, "at": pause.paused_at},
            }
        )
    return rows


def schedules_page(session: Session, now: datetime) -> dict[str, Any]:
    """The schedules with their next fires (UTC and local, DST changes marked) and a 7-day
    strip of ledger rows per schedule by day and status."""
    rows = schedule_rows(session, now)
    week = store.fires_since(session, now - timedelta(days=7))
    days = [(now - timedelta(days=d)).date() for d in range(6, -1, -1)]
    by_name = {s.name: s for s in all_schedules()}
    for row in rows:
        spec = by_name[row["name"]].spec
        upcoming = []
        for due in next_fires(spec, now, 5):
            local = due.astimezone(_zone(row["timezone"]))
            day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
            dst_day = (day_start + timedelta(days=1)).utcoffset() != day_start.utcoffset()
            upcoming.append({"utc": due, "local": local.isoformat(), "dst_change_day": dst_day})
        row["next"] = upcoming
        strip = []
        for day in days:
            fires = [f for f in week if f.schedule == row["name"] and f.due_at.date() == day]
            counts: dict[str, int] = {}
            for f in fires:
                late = f.status == "enqueued" and (f.lateness_ms or 0) > 60_000
                key = "late" if late else f.status
                counts[key] = counts.get(key, 0) + 1
            causes = sorted({f.detail for f in fires if f.status == "missed" and f.detail})
            strip.append({"day": day.isoformat(), "counts": counts, "missed_causes": causes})
        row["week"] = strip
    return {"now": now, "schedules": rows}


def _zone(name: str) -> Any:
    from yoked_actors.clock import zone_or_utc

    return zone_or_utc(name)


def replay_preview(session: Session, f: store.RunFilter, limit: int) -> dict[str, Any]:
    """What a bulk replay of ``f`` would do: how many, which skipped (their idempotency key
    already succeeded) and which cannot be replayed, with the reason."""
    runs = store.filtered_runs(session, f, limit=limit)
    done = store.succeeded_keys(session, [r.idempotency_key for r in runs if r.idempotency_key])
    replay, skipped, refused = [], [], []
    for run in runs:
        if run.status not in REPLAYABLE_STATUSES:
            refused.append({"message_id": run.message_id, "why": f"status is {run.status}"})
        elif run.payload is None or "kwargs" not in run.payload:
            refused.append({"message_id": run.message_id, "why": "payload not kept"})
        elif run.idempotency_key and run.idempotency_key in done:
            skipped.append(
                {"message_id": run.message_id, "why": "idempotency key already succeeded"}
            )
        else:
            replay.append(run.message_id)
    return {
        "filters": filter_params(f),
        "matched": len(runs),
        "would_replay": len(replay),
        "skipped": skipped,
        "refused": refused,
        "message_ids": replay,
        "confirmation": f"replay {len(replay)}",
    }


def utc(now: datetime | None = None) -> datetime:
    return now or datetime.now(UTC)
