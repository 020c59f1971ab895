"""Who is asking: session cookies for people, HTTP Basic for scripts, CSRF, login rate limit.

- A login creates a row in ``console_sessions`` keyed by the SHA-256 of a random token; the
  cookie (HttpOnly, SameSite=Strict, Secure except over plain HTTP to a loopback address) holds
  the token. Every form carries the session's CSRF token; a POST without the right one is 403.
- Scripts send ``Authorization: Basic``. The console never answers with a Basic challenge, so a
  browser never caches those credentials and cannot be made to send them (no CSRF by Basic).
- Failed logins (form or Basic) are counted per client address and per user name: after
  :data:`MAX_FAILURES` in :data:`WINDOW_S` seconds, further attempts get 429 until it passes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session
from starlette.requests import Request

from yoked_actors.clock import utc_now
from yoked_actors.console import store
from yoked_actors.console.users import authenticate

COOKIE = "yoked_console"
MAX_FAILURES = 5
WINDOW_S = 300.0


@dataclass(frozen=True)
class Principal:
    """The user behind a request; ``csrf`` is None for Basic auth (no cookie, no forms)."""

    name: str
    role: str
    csrf: str | None

    @property
    def operator(self) -> bool:
        return self.role == "operator"


class LoginLimiter:
    """Failed attempts per key in a sliding window (in memory, per console process)."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                times = self._failures[key]
                while times and now - times[0] > self.window_s:
                    times.popleft()
                if len(times) >= self.max_failures:
                    return True
        return False

    def failed(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures[key].append(time.monotonic())


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, user_name: str, hours: int) -> str:
    """A new login for ``user_name``; returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    store.create_session(
        session,
        token_hash=token_hash(token),
        user_name=user_name,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=utc_now() + timedelta(hours=hours),
    )
    return token


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (name, password) if sep else None


def principal(request: Request, session: Session, limiter: LoginLimiter) -> Principal | None:
    """The request's user, from its Basic credentials or its session cookie; None if neither."""
    credentials = basic_credentials(request)
    if credentials is not None:
        name, password = credentials
        keys = client_keys(request, name)
        if limiter.blocked(*keys):
            return None
        user = authenticate(session, name, password)
        if user is None:
            limiter.failed(*keys)
            return None
        return Principal(user.name, user.role, None)
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    found = store.session_user(session, token_hash(token))
    if found is None:
        return None
    user, csrf = found
    return Principal(user.name, user.role, csrf)


def client_keys(request: Request, name: str) -> tuple[str, str]:
    host = request.client.host if request.client else "unknown"
    return f"ip:{host}", f"user:{name}"


def csrf_ok(who: Principal, submitted: str | None) -> bool:
    """A Basic-auth script needs no token; a cookie session must send its own."""
    if who.csrf is None:
        return True
    return submitted is not None and hmac.compare_digest(who.csrf, submitted)


def secure_cookie(request: Request) -> bool:
    """Secure, except over plain HTTP to a loopback address (a developer's machine)."""
    if request.url.scheme == "https":
        return True
    return request.url.hostname not in ("127.0.0.1", "localhost", "::1")
