"""`yoked dev --once`: one demonstration of every job, the same at any hour of the day.

The messages go through the broker to the real jobs, in three stages (each drained before the
next starts, since each feeds the next):

1. the canary; ``matching.dispatch_daily`` once per demo timezone with ``now`` set to 09:00
   local on that timezone's current local day (the dispatcher's own window check, claim and
   send: only the clock it is given is shifted), which enqueues ``matching.generate_daily``;
   and every seeded chat message not yet moderated, published as ``message.sent``;
2. ``matching.expire_offers`` and ``notifications.send_batches`` (quiet hours read at the demo's
   "now"), which pushes the offers', messages' and moderation's notifications;
3. ``notifications.poll_receipts``, ``analytics.aggregate_daily`` for the demo's current UTC day
   (and the days it settles), ``maintenance.prune_runs``, and any other scheduled job.

:func:`summary_rows` folds each job's runs into one line: runs, status, time, work done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from dramatiq import Broker, Worker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import func, select

from yoked_actors.clock import Clock, utc_now, zone_strict
from yoked_actors.db import session_scope
from yoked_actors.events import emit, get_event
from yoked_actors.jobs import JOBS
from yoked_actors.matching.dispatch import DISPATCH_FROM
from yoked_actors.models.contract import Message
from yoked_actors.schedules import SCHEDULES

#: Longest wait for a stage's messages to be processed, per queue.
ONCE_TIMEOUT_MS = 300_000
#: The stage of each job (others run in the last stage).
STAGE_OF = {
    "system.ping": 0,
    "matching.dispatch_daily": 0,
    "matching.generate_daily": 0,
    "moderation.moderate_message": 0,
    "matching.expire_offers": 1,
    "notifications.send_batches": 1,
}
LAST_STAGE = 2
MESSAGE_SENT = "message.sent"
#: The summary's columns.
SUMMARY_HEADER = ("job", "runs", "status", "time", "work done")
#: The result fields shown as work done, per job (a job not named here shows every count).
WORK_FIELDS = {
    "matching.dispatch_daily": ("dispatched", "already"),
    "matching.generate_daily": ("eligible_users", "users_with_offers", "offers_written"),
    "moderation.moderate_message": ("recorded", "strikes", "suspended", "held"),
    "notifications.send_batches": ("claimed", "pushes", "sent", "deferred", "dropped", "failed"),
    "notifications.poll_receipts": ("checked", "ok", "errors"),
    "analytics.aggregate_daily": ("metrics", "rows_changed"),
}
#: Result fields that are never work done (timings, bookkeeping).
NOT_WORK = frozenset({"duration_ms", "attempts", "days", "timezones", "already_completed"})


def _actor(name: str) -> str:
    """The actor a stage entry (a job's actor name, or the event ``message.sent``) runs."""
    return get_event(name).actor if name == MESSAGE_SENT else name


def shifted_clock(now: datetime | None) -> Clock:
    """A clock that reads ``now`` at this moment and then moves on; the real one for None."""
    if now is None:
        return utc_now
    offset = now - utc_now()
    return lambda: utc_now() + offset


def dispatch_instants(timezones: list[str], now: datetime) -> list[tuple[str, datetime]]:
    """For each timezone, the instant of 09:00 local on its current local day at ``now``: the
    clock the demo gives the dispatcher, so every timezone is inside its window."""
    instants = []
    for name in timezones:
        zone = zone_strict(name)
        local_day = now.astimezone(zone).date()
        nine = datetime.combine(local_day, DISPATCH_FROM, tzinfo=zone)
        instants.append((name, nine.astimezone(now.tzinfo)))
    return instants


def pending_messages(limit: int = 100) -> list[dict[str, Any]]:
    """``message.sent`` payloads of chat messages not moderated yet (oldest first)."""
    with session_scope() as session:
        rows = session.execute(
            select(Message.id, Message.content, Message.sender_id)
            .where(Message.moderation_status == "pending")
            .order_by(Message.created_at, Message.id)
            .limit(limit)
        ).all()
    return [{"messageId": str(i), "content": c, "senderId": str(s)} for i, c, s in rows]


def stage_messages(
    stage: int, now: datetime, timezones: list[str]
) -> list[tuple[str, dict[str, Any]]]:
    """What stage ``stage`` sends: (actor name, payload) pairs."""
    iso = now.isoformat()
    messages: list[tuple[str, dict[str, Any]]] = []
    if stage == 0:
        messages.append(("system.ping", {"note": "yoked dev --once"}))
        for _, nine in dispatch_instants(timezones, now):
            messages.append(("matching.dispatch_daily", {"now": nine.isoformat()}))
        for event in pending_messages():
            messages.append((MESSAGE_SENT, event))
    elif stage == 1:
        messages.append(("matching.expire_offers", {"now": iso}))
        messages.append(("notifications.send_batches", {"now": iso}))
    else:
        messages.append(("analytics.aggregate_daily", {"day": now.date().isoformat()}))
        messages.append(("maintenance.prune_runs", {"now": iso}))
    declared = [(name, payload) for name, payload in messages if _actor(name) in JOBS]
    if stage == LAST_STAGE:
        named = {name for name, _ in declared} | set(STAGE_OF)
        for schedule in SCHEDULES:
            if schedule.actor_name in JOBS and schedule.actor_name not in named:
                declared.append((schedule.actor_name, dict(schedule.payload)))
                named.add(schedule.actor_name)
    return declared


def run_stages(
    broker: Broker,
    worker: Worker,
    now: datetime,
    timezones: list[str],
    on_send: Callable[[str, str], None],
) -> None:
    """Send each stage's messages (``on_send(message id, actor)`` for each) and drain."""
    for stage in range(LAST_STAGE + 1):
        for name, payload in stage_messages(stage, now, timezones):
            if name == MESSAGE_SENT:
                message = emit(name, payload, max_retries=0)
            else:
                message = JOBS[name].send(payload, max_retries=0)
            on_send(message.message_id, _actor(name))
        drain(broker, worker)


def drain(broker: Broker, worker: Worker) -> None:
    """Wait until every queue is empty, including messages the jobs enqueue meanwhile."""
    queues = sorted(broker.get_declared_queues())
    for _ in range(10):  # a job's follow-ups (dispatch -> generate) need further passes
        for queue in queues:
            if isinstance(broker, StubBroker):
                broker.join(queue, timeout=ONCE_TIMEOUT_MS, fail_fast=False)
            else:
                broker.join(queue, timeout=ONCE_TIMEOUT_MS)
        worker.join()
        if not isinstance(broker, StubBroker) or all(
            not broker.queues[q].unfinished_tasks for q in queues
        ):
            return
        time.sleep(0.05)


def moderation_mix() -> str:
    """How the chat messages were judged: "clean=14, flagged=4, hidden=2"."""
    with session_scope() as session:
        rows = session.execute(
            select(Message.moderation_status, func.count())
            .group_by(Message.moderation_status)
            .order_by(Message.moderation_status)
        ).all()
    return ", ".join(f"{status}={count}" for status, count in rows)


def _work(actor: str, results: list[Any]) -> str:
    """The numbers of a job's results, summed over its runs: "offers_written=412, ..."."""
    fields = WORK_FIELDS.get(actor)
    totals: dict[str, int] = dict.fromkeys(fields, 0) if fields else {}
    for result in results:
        if not isinstance(result, dict):
            continue
        for key, value in result.items():
            if not isinstance(value, int) or isinstance(value, bool) or key in NOT_WORK:
                continue
            if fields is None or key in fields:
                totals[key] = totals.get(key, 0) + value
    return ", ".join(f"{k}={v}" for k, v in totals.items())


def summary_rows(
    outcomes: list[Any], extra: dict[str, str] | None = None
) -> list[tuple[str, str, str, str, str]]:
    """One row per job, in the order first seen: runs, statuses, total time, work done (or
    the first error), followed by ``extra[job]`` when given."""
    by_actor: dict[str, list[Any]] = {}
    for outcome in outcomes:
        by_actor.setdefault(outcome.actor, []).append(outcome)
    rows = []
    for actor, runs in by_actor.items():
        statuses: dict[str, int] = {}
        for run in runs:
            statuses[run.status] = statuses.get(run.status, 0) + 1
        status = ", ".join(s if n == len(runs) else f"{n} {s}" for s, n in sorted(statuses.items()))
        errors = [run.error for run in runs if run.error]
        millis = sum(run.duration_ms for run in runs)
        work = errors[0] if errors else _work(actor, [run.result for run in runs])
        if not errors and (extra or {}).get(actor):
            work = f"{work}; {(extra or {})[actor]}"
        rows.append((actor, str(len(runs)), status, f"{millis:.0f} ms", work))
    return rows
