"""Delivering pushes: the Expo push API client, and a provider that only logs (development).

The Expo client (``PUSH_PROVIDER=expo``, the default when ``YOKED_ENV=production``):

- sends at most 100 messages a request (Expo's limit), gzip-compressed, several requests at once
  (``EXPO_CONCURRENCY``), paced by a token bucket at ``EXPO_RATE_LIMIT`` notifications a second
  (Expo allows 600/s per project); what the bucket cannot fit before the caller's deadline is
  returned as ``carried`` (left for the next run), never sent late;
- retries 429 and 5xx responses and connection failures with exponential backoff and jitter,
  honouring ``Retry-After`` (a 429 pauses every request of the process, not just its own); a 4xx
  other than 429 is not retried: its messages fail with Expo's error code, except 401/403 (our
  access token is wrong), whose messages are carried to the next run;
- never retries a request whose outcome is unknown (the response timed out or broke after the
  request was sent): Expo has no idempotency key, so a retry could push twice; those messages are
  reported ``unknown`` instead;
- parses tickets in request order and receipts (up to 1,000 ids a request).

Nothing here logs a token, a title or a body, nor Expo's error ``message`` (it quotes the
token): only counts, delivery ids and Expo's error codes.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

import httpx

from yoked_actors.notifications.digest import Content
from yoked_actors.settings import _one_of, _positive_int, _read, _url

log = logging.getLogger(__name__)

SEND_PATH = "/--/api/v2/push/send"
RECEIPTS_PATH = "/--/api/v2/push/getReceipts"
#: Expo's limits per request.
MESSAGES_PER_REQUEST = 100
RECEIPTS_PER_REQUEST = 1_000
#: A push is worthless a day later (the digest said "new").
TTL_SECONDS = 24 * 3600
#: Fast compression: JSON of pushes shrinks several-fold even at level 1, and level 9 (the
#: default) costs the sending thread several times more CPU for a few percent.
GZIP_LEVEL = 1
#: Upper bound on a server-requested Retry-After, so one header cannot stall a run.
MAX_RETRY_AFTER_S = 60.0

Outcome = Literal["ok", "error", "carried", "unknown"]


@dataclass(frozen=True)
class PushSettings:
    """Where and how fast pushes go. Build it with :func:`load_push_settings`."""

    #: "expo" sends through the Expo push API; "log" only logs ids and counts.
    provider: str
    #: Base URL of the push service (the paths ``/--/api/v2/push/...`` are appended).
    base_url: str
    #: Expo access token (push security enabled in the Expo project), sent as a Bearer token.
    access_token: str | None
    #: Notifications per second for this process.
    rate_limit: int
    #: Requests in flight at once.
    concurrency: int
    timeout_ms: int
    #: Attempts per request for retryable failures (429, 5xx, connection refused).
    max_attempts: int
    #: First retry delay; doubled on each attempt, with jitter.
    backoff_ms: int


def load_push_settings(env: Mapping[str, str] | None = None) -> PushSettings:
    """Read the push settings from ``env`` (default: the process environment).

    Raises:
      SettingsError: a variable is set to a value that cannot be used.
    """
    env = os.environ if env is None else env
    production = env.get("YOKED_ENV", "").strip().lower() == "production"
    return PushSettings(
        provider=_read(env, "PUSH_PROVIDER", _one_of("expo", "log"),
                       "expo" if production else "log", "expo"),
        base_url=_read(env, "EXPO_PUSH_URL", _url, "https://exp.host", "https://exp.host"),
        access_token=env.get("EXPO_ACCESS_TOKEN") or None,
        rate_limit=_read(env, "EXPO_RATE_LIMIT", _positive_int, 600, "600"),
        concurrency=_read(env, "EXPO_CONCURRENCY", _positive_int, 6, "6"),
        timeout_ms=_read(env, "EXPO_TIMEOUT_MS", _positive_int, 15_000, "15000"),
        max_attempts=_read(env, "EXPO_MAX_ATTEMPTS", _positive_int, 4, "4"),
        backoff_ms=_read(env, "EXPO_BACKOFF_MS", _positive_int, 500, "500"),
    )


@dataclass(frozen=True)
class PushMessage:
    """One push to one device; ``delivery_id`` is its ``notification_deliveries`` row."""

    delivery_id: int
    token: str
    content: Content

    def to_expo(self) -> dict[str, Any]:
        return {
            "to": self.token,
            "title": self.content.title,
            "body": self.content.body,
            "data": self.content.data,
            "priority": self.content.priority,
            "sound": "default",
            "ttl": TTL_SECONDS,
        }


@dataclass(frozen=True)
class PushResult:
    """What became of one message: ``ok`` (a ticket), ``error`` (Expo refused it, with its
    code), ``carried`` (not sent: retries or the run's time ran out), ``unknown`` (sent, but
    no answer)."""

    outcome: Outcome
    ticket_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Receipt:
    """A ticket's receipt: ``ok`` or ``error`` with Expo's code (e.g. DeviceNotRegistered)."""

    status: str
    error: str | None = None


class PushProvider(Protocol):
    """Something that delivers pushes and reports receipts."""

    def send(
        self, messages: Sequence[PushMessage], *, deadline: float | None = None
    ) -> list[PushResult]:
        """One result per message, in order. ``deadline`` is a ``time.monotonic()`` value after
        which nothing more is started (the rest is ``carried``)."""
        ...

    def get_receipts(self, ticket_ids: Sequence[str]) -> dict[str, Receipt]:
        """Receipts of the tickets that have one; missing ids are not ready (or lost)."""
        ...

    def close(self) -> None: ...


class RateLimiter:
    """A thread-safe token bucket (GCRA): ``rate`` tokens a second, bursts up to ``burst``.

    Callers reserve their slot under the lock and sleep outside it, so waiting requests queue up
    in order. ``waited`` adds up the time spent waiting, which the benchmark subtracts.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else float(MESSAGES_PER_REQUEST)
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat = monotonic()  # theoretical arrival time of the next token
        self.waited = 0.0

    def reserve(self, n: int, deadline: float | None = None) -> float | None:
        """Reserve ``n`` tokens; the seconds to wait before using them, or None (nothing
        reserved) if that wait would end after ``deadline``."""
        with self._lock:
            now = self._monotonic()
            tat = max(self._tat, now)
            start = tat + n / self.rate - self.burst / self.rate
            wait = max(0.0, start - now)
            if deadline is not None and now + wait > deadline:
                return None
            self._tat = tat + n / self.rate
            return wait

    def acquire(self, n: int, deadline: float | None = None) -> bool:
        """Wait until ``n`` tokens are available; False (no wait) if not before ``deadline``."""
        wait = self.reserve(n, deadline)
        if wait is None:
            return False
        if wait > 0:
            self._sleep(wait)
            with self._lock:
                self.waited += wait
        return True

    def pause(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` (the service said Retry-After)."""
        with self._lock:
            self._tat = max(self._tat, self._monotonic() + seconds + self.burst / self.rate)


class _Retryable(Exception):
    """A failure after which the request certainly was not acted on (429, 5xx, no connection)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(raw).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _error_code(response: httpx.Response) -> str:
    """Expo's request-level error code (``errors[0].code``), else ``HTTP_<status>``."""
    try:
        errors = response.json().get("errors") or []
        code = errors[0].get("code")
    except (ValueError, AttributeError, IndexError, TypeError):
        code = None
    return str(code) if code else f"HTTP_{response.status_code}"


# Failures where the request never reached the server whole: safe to send again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteError,
             httpx.WriteTimeout)


class ExpoPushClient:
    """The Expo push API over httpx. Thread-safe; one per process is enough (pooled)."""

    def __init__(
        self,
        settings: PushSettings,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.limiter = limiter or RateLimiter(settings.rate_limit)
        self._sleep = sleep
        headers = {"accept": "application/json", "content-type": "application/json",
                   "content-encoding": "gzip"}
        if settings.access_token:
            headers["authorization"] = f"Bearer {settings.access_token}"
        timeout = settings.timeout_ms / 1000
        self._http = httpx.Client(
            base_url=settings.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=settings.concurrency * 2,
                                max_keepalive_connections=settings.concurrency),
        )
        self._pool = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="expo-push")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

    # -- sending -------------------------------------------------------------------------------

    def send(
        self, messages: Sequence[PushMessage], *, deadline: float | None = None
    ) -> list[PushResult]:
        """Send ``messages`` in requests of 100, concurrently; one result per message."""
        batches = [list(messages[i:i + MESSAGES_PER_REQUEST])
                   for i in range(0, len(messages), MESSAGES_PER_REQUEST)]
        outage = threading.Event()  # once one batch gives up, the others do not start
        results = self._pool.map(lambda b: self._send_batch(b, deadline, outage), batches)
        return [result for batch in results for result in batch]

    def _send_batch(
        self, batch: list[PushMessage], deadline: float | None, outage: threading.Event
    ) -> list[PushResult]:
        def every(result: PushResult) -> list[PushResult]:
            return [result] * len(batch)

        if outage.is_set() or not self.limiter.acquire(len(batch), deadline):
            return every(PushResult("carried", error="not_started"))
        body = gzip.compress(json.dumps([m.to_expo() for m in batch]).encode(), GZIP_LEVEL)
        try:
            response = self._post(SEND_PATH, body, deadline)
        except _Retryable as gave_up:
            outage.set()
            log.warning("expo push: gave up on %d messages after %d attempts (%s)",
                        len(batch), self.settings.max_attempts, gave_up.reason)
            return every(PushResult("carried", error=gave_up.reason))
        except httpx.TransportError as error:
            log.error("expo push: no answer for deliveries %s..%s (%s); outcome unknown",
                      batch[0].delivery_id, batch[-1].delivery_id, type(error).__name__)
            return every(PushResult("unknown", error=type(error).__name__))
        if response.status_code in (401, 403):
            # Our credentials, not the messages: keep them for the run after the fix.
            outage.set()
            code = _error_code(response)
            log.error("expo push: %s, check EXPO_ACCESS_TOKEN; %d messages carried",
                      code, len(batch))
            return every(PushResult("carried", error=code))
        if response.status_code != 200:
            code = _error_code(response)
            log.error("expo push: request refused with %s (%d messages, not retried)",
                      code, len(batch))
            return every(PushResult("error", error=code))
        try:
            tickets = response.json()["data"]
            if not isinstance(tickets, list) or len(tickets) != len(batch):
                raise ValueError("ticket count does not match")
        except (ValueError, KeyError, TypeError):
            log.error("expo push: unreadable tickets for %d messages; outcome unknown", len(batch))
            return every(PushResult("unknown", error="bad_response"))
        return [_ticket_result(ticket) for ticket in tickets]

    def _post(self, path: str, body: bytes, deadline: float | None) -> httpx.Response:
        """POST with retries on 429/5xx/connection failures. Raises _Retryable when attempts
        (or the deadline) run out, httpx.TransportError when the outcome is unknown."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.post(path, content=body)
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Retryable(f"HTTP_{response.status_code}", _retry_after(response))
                return response
            except _NOT_SENT as error:
                failure = _Retryable(type(error).__name__)
            except _Retryable as retryable:
                failure = retryable
            if attempt >= self.settings.max_attempts:
                raise failure
            delay = self._backoff(attempt, failure.retry_after)
            if deadline is not None and time.monotonic() + delay > deadline:
                raise failure
            if failure.reason == "HTTP_429":
                self.limiter.pause(delay)
            log.warning("expo push: %s, retry %d in %.2fs", failure.reason, attempt, delay)
            self._sleep(delay)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        base = self.settings.backoff_ms / 1000 * 2 ** (attempt - 1)
        return min(base, 30.0) * random.uniform(0.5, 1.0)

    # -- receipts ------------------------------------------------------------------------------

    def get_receipts(self, ticket_ids: Sequence[str]) -> dict[str, Receipt]:
        """Receipts for ``ticket_ids``, 1,000 a request. A request that keeps failing leaves its
        ids out (they are asked for again on the next poll)."""
        chunks = [list(ticket_ids[i:i + RECEIPTS_PER_REQUEST])
                  for i in range(0, len(ticket_ids), RECEIPTS_PER_REQUEST)]
        receipts: dict[str, Receipt] = {}
        for chunk in chunks:
            body = gzip.compress(json.dumps({"ids": chunk}).encode(), GZIP_LEVEL)
            try:
                response = self._post(RECEIPTS_PATH, body, None)
            except (_Retryable, httpx.TransportError) as error:
                log.warning("expo receipts: %d ids not fetched (%s)", len(chunk),
                            getattr(error, "reason", type(error).__name__))
                continue
            if response.status_code != 200:
                log.error("expo receipts: request refused with %s", _error_code(response))
                continue
            try:
                data = response.json()["data"]
                for ticket_id, receipt in data.items():
                    receipts[str(ticket_id)] = Receipt(
                        status=str(receipt.get("status")),
                        error=(receipt.get("details") or {}).get("error"),
                    )
            except (ValueError, KeyError, TypeError, AttributeError):
                log.error("expo receipts: unreadable response for %d ids", len(chunk))
        return receipts


def _ticket_result(ticket: Any) -> PushResult:
    if not isinstance(ticket, dict):
        return PushResult("unknown", error="bad_ticket")
    if ticket.get("status") == "ok" and ticket.get("id"):
        return PushResult("ok", ticket_id=str(ticket["id"]))
    error = (ticket.get("details") or {}).get("error") or "UnknownError"
    # Too many pushes to one device (Expo says slow down), or our push credentials for the
    # app are wrong: not the message's fault, so the digest waits for the next run.
    if error in ("MessageRateExceeded", "InvalidCredentials"):
        return PushResult("carried", error=error)
    return PushResult("error", error=str(error))


class LogPushProvider:
    """Development provider: logs delivery ids and counts, sends nothing, every push "ok"."""

    def send(
        self, messages: Sequence[PushMessage], *, deadline: float | None = None
    ) -> list[PushResult]:
        if messages:
            ids = [m.delivery_id for m in messages]
            log.info("push (log provider): %d pushes, deliveries %s", len(ids),
                     ids if len(ids) <= 20 else f"{ids[:20]}...")
        return [PushResult("ok", ticket_id=f"log-{m.delivery_id}") for m in messages]

    def get_receipts(self, ticket_ids: Sequence[str]) -> dict[str, Receipt]:
        return {ticket_id: Receipt("ok") for ticket_id in ticket_ids}

    def close(self) -> None:
        pass


def make_provider(settings: PushSettings | None = None) -> PushProvider:
    """The provider the settings choose."""
    settings = settings or load_push_settings()
    if settings.provider == "expo":
        return ExpoPushClient(settings)
    return LogPushProvider()
