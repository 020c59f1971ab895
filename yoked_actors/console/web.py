"""The request plumbing every console page and action shares: who is asking, the read-only
transaction, HTML or JSON, and the answers to bad requests (400 naming the filter, 401, 403, 404).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from yoked_actors import db
from yoked_actors.console import store
from yoked_actors.console.auth import LoginLimiter, Principal, basic_credentials, principal
from yoked_actors.console.filters import FilterError, plain, rfc3339
from yoked_actors.settings import Settings

HERE = Path(__file__).parent
LOGIN_CSRF = "yoked_login_csrf"


class HTTPProblem(Exception):
    """An answer other than the page: status and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Console:
    """The console's state for one app: settings, templates, the login limiter."""

    settings: Settings
    templates: Jinja2Templates
    limiter: LoginLimiter


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.filters["t"] = lambda v: rfc3339(v) if v is not None else "-"
    env.filters["qs"] = lambda params: urlencode({k: v for k, v in params.items() if v})
    env.filters["pct"] = lambda v: "-" if v is None else f"{v * 100:.1f} %"
    env.filters["dash"] = lambda v: "-" if v is None else v
    return templates


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def wants_json(request: Request, form: Mapping[str, Any] | None = None) -> bool:
    if request.query_params.get("format") == "json" or (form or {}).get("format") == "json":
        return True
    return basic_credentials(request) is not None


def problem(
    request: Request, status: int, message: str, *, as_json: bool | None = None
) -> Response:
    if as_json if as_json is not None else wants_json(request):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    console = console_of(request)
    return console.templates.TemplateResponse(
        request,
        "problem.html",
        {"status": status, "message": message, "who": None},
        status_code=status,
    )


def unauthenticated(request: Request) -> Response:
    if wants_json(request) or request.method != "GET":
        # No WWW-Authenticate challenge: a browser must never cache Basic credentials.
        return JSONResponse({"error": "log in, or send HTTP Basic credentials", "status": 401}, 401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


def render(request: Request, template: str, data: dict[str, Any], who: Principal) -> Response:
    if wants_json(request):
        return JSONResponse(plain(data))
    context = {"who": who, "csrf": who.csrf, **data}
    return console_of(request).templates.TemplateResponse(request, template, context)


async def page(
    request: Request, template: str, build: Callable[[Session, Principal], dict[str, Any]]
) -> Response:
    """Run ``build`` in a read-only transaction with the console's statement timeout."""
    console = console_of(request)

    def work() -> tuple[Principal | None, dict[str, Any] | None]:
        with db.session_scope() as session:
            store.read_only(session, timeout_ms=console.settings.console.page_timeout_ms)
            who = principal(request, session, console.limiter)
            if who is None:
                return None, None
            return who, build(session, who)

    try:
        who, data = await run_in_threadpool(work)
    except FilterError as error:
        return problem(request, 400, f"bad filter {error}")
    except HTTPProblem as error:
        return problem(request, error.status, error.message)
    except OperationalError as error:
        return problem(
            request, 503, f"database unavailable or too slow ({type(error.orig).__name__})"
        )
    if who is None or data is None:
        return unauthenticated(request)
    return render(request, template, data, who)


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def safe_next(raw: str | None) -> str:
    """Only a path of this site (no scheme, no ``//host``)."""
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/"
