"""The operator console: an ASGI app (Starlette, server-rendered Jinja2 pages, no build step).

``create_app(settings)`` builds it; ``yoked console`` serves it with uvicorn. The app binds no
broker itself: the process that serves it declares and binds the jobs first (``yoked console``
does; so does ``yoked dev``), because replays and manual fires send messages. Every page answers
``?format=json`` (or any request with HTTP Basic credentials) with the same data as JSON.
See docs/console.md.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yoked_actors import db
from yoked_actors.clock import utc_now
from yoked_actors.console import actions, domain_pages, pages, store
from yoked_actors.console.auth import (
    COOKIE,
    LoginLimiter,
    Principal,
    client_keys,
    csrf_ok,
    open_session,
    principal,
    secure_cookie,
    token_hash,
)
from yoked_actors.console.filters import FILTER_NAMES, parse_cursor, parse_filter
from yoked_actors.console.users import authenticate
from yoked_actors.console.web import (
    HERE,
    LOGIN_CSRF,
    Console,
    HTTPProblem,
    console_of,
    make_templates,
    new_login_token,
    page,
    problem,
    safe_next,
    unauthenticated,
)
from yoked_actors.settings import Settings

PAGE_SIZE = 50


class SecurityHeaders:
    """No framing, no sniffing, scripts and styles from the console only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += [
                    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"cache-control", b"no-store"),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- login ---------------------------------------------------------------------------------


async def login_form(request: Request) -> Response:
    token = new_login_token()
    response = console_of(request).templates.TemplateResponse(
        request,
        "login.html",
        {
            "who": None,
            "login_csrf": token,
            "next": safe_next(request.query_params.get("next")),
            "error": None,
        },
    )
    response.set_cookie(
        LOGIN_CSRF, token, httponly=True, samesite="strict", secure=secure_cookie(request)
    )
    return response


async def login(request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    console = console_of(request)
    expected = request.cookies.get(LOGIN_CSRF)
    if not expected or form.get("login_csrf") != expected:
        return problem(request, 403, "missing or wrong CSRF token; reload the login page")
    name, password = form.get("name", ""), form.get("password", "")
    keys = client_keys(request, name)
    if console.limiter.blocked(*keys):
        return problem(request, 429, "too many failed logins; wait a few minutes")

    def check() -> str | None:
        with db.session_scope() as session:
            user = authenticate(session, name, password)
            if user is None:
                return None
            return open_session(session, user.name, console.settings.console.session_hours)

    token = await run_in_threadpool(check)
    if token is None:
        console.limiter.failed(*keys)
        return console.templates.TemplateResponse(
            request,
            "login.html",
            {
                "who": None,
                "login_csrf": expected,
                "next": safe_next(form.get("next")),
                "error": "Wrong name or password.",
            },
            status_code=401,
        )
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
        max_age=console.settings.console.session_hours * 3600,
    )
    response.delete_cookie(LOGIN_CSRF)
    return response


async def logout(request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    console = console_of(request)

    def end() -> Response | None:
        with db.session_scope() as session:
            who = principal(request, session, console.limiter)
            if who is None:
                return unauthenticated(request)
            if not csrf_ok(who, form.get("csrf")):
                return problem(request, 403, "missing or wrong CSRF token; reload the page")
            store.end_session(session, token_hash(request.cookies.get(COOKIE, "")))
        return None

    refused = await run_in_threadpool(end)
    if refused is not None:
        return refused
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


# -- pages ---------------------------------------------------------------------------------


async def overview(request: Request) -> Response:
    settings = console_of(request).settings
    return await page(
        request, "overview.html", lambda s, who: pages.overview(s, settings, utc_now())
    )


def _filters(request: Request) -> Any:
    return parse_filter({k: request.query_params.get(k, "") for k in FILTER_NAMES})


async def runs(request: Request) -> Response:
    def build(session: Session, who: Principal) -> dict[str, Any]:
        f = _filters(request)
        raw = request.query_params.get("after")
        after = parse_cursor(raw) if raw else None
        return pages.runs_page(session, f, after, PAGE_SIZE)

    return await page(request, "runs.html", build)


async def run_detail(request: Request) -> Response:
    message_id = request.path_params["message_id"]

    def build(session: Session, who: Principal) -> dict[str, Any]:
        run = store.get_run_exact(session, message_id)
        if run is None:
            raise HTTPProblem(404, f"no run has the message id {message_id!r}")
        return pages.run_page(session, run)

    return await page(request, "run.html", build)


async def replay_form(request: Request) -> Response:
    def build(session: Session, who: Principal) -> dict[str, Any]:
        try:
            limit = int(request.query_params.get("limit") or 1000)
        except ValueError:
            raise HTTPProblem(400, "bad filter limit: a whole number") from None
        if not 1 <= limit <= actions.BULK_LIMIT:
            raise HTTPProblem(400, f"bad filter limit: 1 to {actions.BULK_LIMIT}")
        return pages.replay_preview(session, _filters(request), limit) | {"limit": limit}

    return await page(request, "replay.html", build)


async def schedules(request: Request) -> Response:
    return await page(request, "schedules.html", lambda s, who: pages.schedules_page(s, utc_now()))


async def outbox(request: Request) -> Response:
    from yoked_actors.runs.store import outbox_status

    def build(session: Session, who: Principal) -> dict[str, Any]:
        rows = store.failed_outbox(session)
        return {
            "status": outbox_status(session),
            "failed": [
                {
                    "id": r.id,
                    "actor": r.actor,
                    "attempts": r.attempts,
                    "created_at": r.created_at,
                    "failed_at": r.failed_at,
                    "last_error": r.last_error,
                }
                for r in rows
            ],
        }

    return await page(request, "outbox.html", build)


async def audit(request: Request) -> Response:
    def build(session: Session, who: Principal) -> dict[str, Any]:
        return {
            "audit": [
                {
                    "at": a.at,
                    "user": a.user_name,
                    "action": a.action,
                    "target": a.target,
                    "reason": a.reason,
                    "outcome": a.outcome,
                }
                for a in store.recent_audit(session, 100)
            ]
        }

    return await page(request, "audit.html", build)


# -- actions -------------------------------------------------------------------------------


async def replay(request: Request) -> Response:
    message_id = request.path_params["message_id"]
    return await actions.act(request, "replay", message_id, actions.replay_one(message_id))


async def outbox_retry(request: Request) -> Response:
    return await actions.act(request, "outbox_retry", "outbox", actions.retry_outbox)


async def schedule_action(request: Request) -> Response:
    name, verb = request.path_params["name"], request.path_params["verb"]
    work = {
        "run": lambda: actions.run_schedule_now(name),
        "pause": lambda: actions.pause_schedule(name, True),
        "resume": lambda: actions.pause_schedule(name, False),
    }.get(verb)
    if work is None:
        return problem(request, 404, f"no action {verb!r} on schedules (run, pause, resume)")
    return await actions.act(request, f"schedule_{verb}", name, work())


def create_app(settings: Settings) -> Starlette:
    """The console for ``settings`` (database from ``db``'s engine, configured by the caller)."""
    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", overview),
        Route("/runs", runs),
        Route("/runs/{message_id:str}", run_detail),
        Route("/runs/{message_id:str}/replay", replay, methods=["POST"]),
        Route("/replay", replay_form, methods=["GET"]),
        Route("/replay", actions.bulk_replay, methods=["POST"]),
        Route("/schedules", schedules),
        Route("/schedules/{name:str}/{verb:str}", schedule_action, methods=["POST"]),
        Route("/outbox", outbox),
        Route("/outbox/retry", outbox_retry, methods=["POST"]),
        Route("/audit", audit),
        Route("/matching", domain_pages.matching),
        Route("/moderation", domain_pages.moderation),
        Route("/moderation/{message_id:str}/reveal", domain_pages.reveal, methods=["POST"]),
        Route("/moderation/{message_id:str}/decide", domain_pages.decide, methods=["POST"]),
        Route("/deliveries", domain_pages.deliveries),
        Route("/metrics", domain_pages.metrics),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
    app.state.console = Console(settings, make_templates(), LoginLimiter())
    return app
