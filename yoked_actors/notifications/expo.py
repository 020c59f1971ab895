"""The Expo push API client (``PUSH_PROVIDER=expo``, the default when ``YOKED_ENV=production``).

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
- parses tickets in request order (:func:`.outcomes.ticket_result`) and receipts (up to 1,000
  ids a request).

Nothing here logs a token, a title or a body, nor Expo's error ``message`` (it quotes the
token): only counts, delivery ids and Expo's error codes. Its settings are
:class:`yoked_actors.settings.PushSettings`; docs/notifications.md describes the variables.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime

import httpx

from yoked_actors.notifications.outcomes import ticket_result
from yoked_actors.notifications.push import PushMessage, PushResult, Receipt
from yoked_actors.settings import PushSettings

logger = logging.getLogger(__name__)

SEND_PATH = "/--/api/v2/push/send"
RECEIPTS_PATH = "/--/api/v2/push/getReceipts"
#: Expo's limits per request.
MESSAGES_PER_REQUEST = 100
RECEIPTS_PER_REQUEST = 1_000
#: Fast compression: JSON of pushes shrinks several-fold even at level 1, and level 9 (the
#: default) costs the sending thread several times more CPU for a few percent.
GZIP_LEVEL = 1
#: Upper bound on a server-requested Retry-After, so one header cannot stall a run.
MAX_RETRY_AFTER_S = 60.0


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
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)


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
        headers = {
            "accept": "application/json",
            "content-type": "application/json",
            "content-encoding": "gzip",
        }
        if settings.access_token:
            headers["authorization"] = f"Bearer {settings.access_token}"
        timeout = settings.timeout_ms / 1000
        self._http = httpx.Client(
            base_url=settings.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(
                max_connections=settings.concurrency * 2,
                max_keepalive_connections=settings.concurrency,
            ),
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
        batches = [
            list(messages[i : i + MESSAGES_PER_REQUEST])
            for i in range(0, len(messages), MESSAGES_PER_REQUEST)
        ]
        outage = threading.Event()  # once one batch gives up, the others do not start
        results = self._pool.map(lambda b: self._send_batch(b, deadline, outage), batches)
        return [result for batch in results for result in batch]

    def _send_batch(
        self, batch: list[PushMessage], deadline: float | None, outage: threading.Event
    ) -> list[PushResult]:
        """One request of up to 100 messages: paced, posted with retries, answered per message.
        Sets ``outage`` when the service or our credentials fail, so no further batch starts."""
        if outage.is_set() or not self.limiter.acquire(len(batch), deadline):
            return [PushResult("carried", error="not_started")] * len(batch)
        body = gzip.compress(json.dumps([m.to_expo() for m in batch]).encode(), GZIP_LEVEL)
        try:
            response = self._post(SEND_PATH, body, deadline)
        except _Retryable as gave_up:
            outage.set()
            logger.warning(
                "expo push: gave up on %d messages after %d attempts (%s)",
                len(batch),
                self.settings.max_attempts,
                gave_up.reason,
            )
            return [PushResult("carried", error=gave_up.reason)] * len(batch)
        except httpx.TransportError as error:
            logger.error(
                "expo push: no answer for deliveries %s..%s (%s); outcome unknown",
                batch[0].delivery_id,
                batch[-1].delivery_id,
                type(error).__name__,
            )
            return [PushResult("unknown", error=type(error).__name__)] * len(batch)
        return _answer(response, len(batch), outage)

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
            logger.warning("expo push: %s, retry %d in %.2fs", failure.reason, attempt, delay)
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
        chunks = [
            list(ticket_ids[i : i + RECEIPTS_PER_REQUEST])
            for i in range(0, len(ticket_ids), RECEIPTS_PER_REQUEST)
        ]
        receipts: dict[str, Receipt] = {}
        for chunk in chunks:
            body = gzip.compress(json.dumps({"ids": chunk}).encode(), GZIP_LEVEL)
            try:
                response = self._post(RECEIPTS_PATH, body, None)
            except (_Retryable, httpx.TransportError) as error:
                logger.warning(
                    "expo receipts: %d ids not fetched (%s)",
                    len(chunk),
                    getattr(error, "reason", type(error).__name__),
                )
                continue
            if response.status_code != 200:
                logger.error("expo receipts: request refused with %s", _error_code(response))
                continue
            try:
                data = response.json()["data"]
                for ticket_id, receipt in data.items():
                    receipts[str(ticket_id)] = Receipt(
                        status=str(receipt.get("status")),
                        error=(receipt.get("details") or {}).get("error"),
                    )
            except (ValueError, KeyError, TypeError, AttributeError):
                logger.error("expo receipts: unreadable response for %d ids", len(chunk))
        return receipts


def _answer(response: httpx.Response, count: int, outage: threading.Event) -> list[PushResult]:
    """The results of the ``count`` messages of a request Expo answered with ``response``."""
    if response.status_code in (401, 403):
        # Our credentials, not the messages: keep them for the run after the fix.
        outage.set()
        code = _error_code(response)
        logger.error("expo push: %s, check EXPO_ACCESS_TOKEN; %d messages carried", code, count)
        return [PushResult("carried", error=code)] * count
    if response.status_code != 200:
        code = _error_code(response)
        logger.error("expo push: request refused with %s (%d messages, not retried)", code, count)
        return [PushResult("error", error=code)] * count
    try:
        tickets = response.json()["data"]
        if not isinstance(tickets, list) or len(tickets) != count:
            raise ValueError("ticket count does not match")
    except (ValueError, KeyError, TypeError):
        logger.error("expo push: unreadable tickets for %d messages; outcome unknown", count)
        return [PushResult("unknown", error="bad_response")] * count
    return [ticket_result(ticket) for ticket in tickets]
