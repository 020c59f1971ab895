"""What operators do from the console: each needs the operator role, the form's CSRF token and
a reason, and leaves a row in ``console_audit`` (user, action, target, reason, time, outcome),
refusals included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from yoked_actors import db
from yoked_actors.clock import utc_now
from yoked_actors.console import store
from yoked_actors.console.auth import Principal, csrf_ok, principal
from yoked_actors.console.filters import FILTER_NAMES, parse_filter
from yoked_actors.console.pages import replay_preview
from yoked_actors.console.web import HTTPProblem, console_of, problem, unauthenticated, wants_json

#: An action's work: (session, user, form) -> (target, outcome, result for the answer).
Work = Callable[[Session, Principal, dict[str, str]], tuple[str, str, dict[str, Any]]]
CHUNK = 100
BULK_LIMIT = 100_000


async def act(
    request: Request, action: str, target: str, work: Work, *, template: str = "done.html"
) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    console = console_of(request)
    as_json = wants_json(request, form)

    def run() -> Response:
        with db.session_scope() as session:
            who = principal(request, session, console.limiter)
            if who is None:
                return unauthenticated(request)
            if not csrf_ok(who, form.get("csrf")):
                return problem(
                    request, 403, "missing or wrong CSRF token; reload the page", as_json=as_json
                )
            reason = form.get("reason", "").strip()
            if not who.operator:
                store.audit(
                    session,
                    user=who.name,
                    action=action,
                    target=target,
                    reason=reason or "-",
                    outcome="refused: viewer",
                )
                return problem(request, 403, "only operators can do this", as_json=as_json)
            if not reason:
                return problem(
                    request, 400, "reason: say why (it goes to the audit trail)", as_json=as_json
                )
            try:
                final_target, outcome, result = work(session, who, form)
            except HTTPProblem as error:
                session.rollback()
                store.audit(
                    session,
                    user=who.name,
                    action=action,
                    target=target,
                    reason=reason,
                    outcome=f"refused: {error.message}",
                )
                return problem(request, error.status, error.message, as_json=as_json)
            store.audit(
                session,
                user=who.name,
                action=action,
                target=final_target,
                reason=reason,
                outcome=outcome,
            )
        body = {"action": action, "target": final_target, "outcome": outcome, **result}
        if as_json:
            return JSONResponse(body)
        return console_of(request).templates.TemplateResponse(
            request, template, {"who": who, "csrf": who.csrf, **body}
        )

    return await run_in_threadpool(run)


def replay_one(message_id: str) -> Work:
    def work(
        session: Session, who: Principal, form: dict[str, str]
    ) -> tuple[str, str, dict[str, Any]]:
        from yoked_actors.runs.history import replay_run

        run = store.get_run_exact(session, message_id)
        if run is None:
            raise HTTPProblem(404, f"no run has the message id {message_id!r}")
        result = replay_run(run)
        if result.error:
            raise HTTPProblem(409, f"not replayed: {result.error}")
        return (
            message_id,
            f"replayed as {result.new_message_id}",
            {"new_message_id": result.new_message_id, "link": f"/runs/{result.new_message_id}"},
        )

    return work


def retry_outbox(
    session: Session, who: Principal, form: dict[str, str]
) -> tuple[str, str, dict[str, Any]]:
    raw = form.get("ids", "").strip()
    try:
        ids = [int(x) for x in raw.replace(",", " ").split()] if raw else None
    except ValueError:
        raise HTTPProblem(400, "ids: whole numbers separated by spaces or commas") from None
    count = store.retry_outbox(session, ids)
    return (
        ("all failed rows" if ids is None else f"rows {raw}"),
        f"{count} made pending",
        {"retried": count, "link": "/outbox"},
    )


def _schedule(name: str) -> Any:
    from yoked_actors.scheduling.table import all_schedules

    for schedule in all_schedules():
        if schedule.name == name:
            return schedule
    raise HTTPProblem(404, f"no schedule is named {name!r}")


def run_schedule_now(name: str) -> Work:
    def work(
        session: Session, who: Principal, form: dict[str, str]
    ) -> tuple[str, str, dict[str, Any]]:
        from yoked_actors.jobs import get_job
        from yoked_actors.scheduling.table import fire_key

        schedule = _schedule(name)
        now = utc_now()
        key = fire_key(name, now)
        message = get_job(schedule.actor_name).send(
            dict(schedule.payload), idempotency_key=f"schedule:{key}", schedule_fire=key
        )
        store.record_manual_fire(
            session,
            schedule=name,
            actor=schedule.actor_name,
            due_at=now,
            message_id=message.message_id,
            detail=f"manual fire by {who.name}",
        )
        return (
            name,
            f"fired as {message.message_id}",
            {"message_id": message.message_id, "link": "/schedules"},
        )

    return work


def pause_schedule(name: str, paused: bool) -> Work:
    def work(
        session: Session, who: Principal, form: dict[str, str]
    ) -> tuple[str, str, dict[str, Any]]:
        _schedule(name)
        if paused:
            changed = store.pause(session, schedule=name, user=who.name, reason=form["reason"])
        else:
            changed = store.resume(session, name)
        state = "paused" if paused else "resumed"
        return name, state if changed else f"already {state}", {"link": "/schedules"}

    return work


async def bulk_replay(request: Request) -> Response:
    """The typed confirmation must match the preview's (``replay N``), computed again now; the
    replays are sent in chunks of :data:`CHUNK`, each chunk one transaction and one audit row,
    and the page shows progress as each chunk lands (streamed; no JavaScript needed)."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    console = console_of(request)
    as_json = wants_json(request, form)
    try:
        f = parse_filter({k: form.get(k, "") for k in FILTER_NAMES})
        limit = min(int(form.get("limit") or 1000), BULK_LIMIT)
    except ValueError as error:
        return problem(request, 400, f"bad filter {error}", as_json=as_json)

    def check() -> Response | tuple[Principal, dict[str, Any]]:
        with db.session_scope() as session:
            who = principal(request, session, console.limiter)
            if who is None:
                return unauthenticated(request)
            if not csrf_ok(who, form.get("csrf")):
                return problem(
                    request, 403, "missing or wrong CSRF token; reload the page", as_json=as_json
                )
            if not who.operator:
                store.audit(
                    session,
                    user=who.name,
                    action="bulk_replay",
                    target=str(f),
                    reason=form.get("reason") or "-",
                    outcome="refused: viewer",
                )
                return problem(request, 403, "only operators can do this", as_json=as_json)
            if not form.get("reason", "").strip():
                return problem(
                    request, 400, "reason: say why (it goes to the audit trail)", as_json=as_json
                )
            preview = replay_preview(session, f, limit)
            if form.get("confirm", "").strip() != preview["confirmation"]:
                return problem(
                    request,
                    400,
                    f"confirm: type {preview['confirmation']!r} exactly "
                    "(the selection may have changed since the preview)",
                    as_json=as_json,
                )
            return who, preview

    checked = await run_in_threadpool(check)
    if isinstance(checked, Response):
        return checked
    who, preview = checked
    ids: list[str] = preview["message_ids"]
    return StreamingResponse(
        _progress(who, form["reason"].strip(), ids, as_json),
        media_type="application/x-ndjson" if as_json else "text/html",
    )


def _progress(who: Principal, reason: str, ids: list[str], as_json: bool) -> Iterator[str]:
    import json

    from yoked_actors.runs.history import replay_run

    chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)] or [[]]
    done = failed = 0
    if not as_json:
        yield (
            "<!doctype html><meta charset=utf-8><link rel=stylesheet href=/static/console.css>"
            f"<title>Bulk replay</title><main><h1>Bulk replay of {len(ids)} runs</h1>"
            "<ol id=progress>"
        )
    for number, chunk in enumerate(chunks, 1):
        replayed = errors = 0
        with db.session_scope() as session:
            for message_id in chunk:
                run = store.get_run_exact(session, message_id)
                result = replay_run(run) if run is not None else None
                if result is not None and result.new_message_id:
                    replayed += 1
                else:
                    errors += 1
            store.audit(
                session,
                user=who.name,
                action="bulk_replay",
                target=f"chunk {number}/{len(chunks)} ({chunk[0] if chunk else '-'}...)",
                reason=reason,
                outcome=f"{replayed} replayed, {errors} not",
            )
        done += replayed
        failed += errors
        line = {"chunk": number, "chunks": len(chunks), "replayed": done, "not_replayed": failed}
        yield (
            json.dumps(line) + "\n"
            if as_json
            else (
                f"<li>chunk {number}/{len(chunks)}: {done} replayed, {failed} not replayed</li>\n"
            )
        )
    if not as_json:
        yield (
            f"</ol><p id=finished>Finished: {done} replayed, {failed} not replayed at "
            f"{datetime.now().astimezone().isoformat(timespec='seconds')}.</p>"
            "<p><a href=/runs>Back to runs</a></p></main>"
        )
