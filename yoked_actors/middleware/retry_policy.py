"""The retry policy: what is worth retrying, how soon, and how many times.

Three kinds of failure, read from the exception:

- **Permanent** (:class:`~yoked_actors.errors.PermanentError`: bad payload, unknown actor, a row
  that does not exist): never retried; the message is dead-lettered at once and the run history
  records it as ``failed`` with the reason.
- **Transient** (the database or the network is unavailable, a statement or time limit hit):
  retried soon and often, with a short capped backoff (``transient_min_backoff`` ..
  ``transient_max_backoff`` ms, default 250 ms .. 5 s, ``transient_max_retries`` times, default
  20, which covers an outage of about a minute), because such faults end by themselves.
- **Anything else** (a bug): retried with the job's own ``max_retries`` / ``min_backoff`` /
  ``max_backoff`` (few, slower), then dead-lettered: ``dead`` in the run history.

Each of these can be set per job: ``@job(..., transient_max_retries=40)``. The defaults of the
job's own schedule (:data:`DEFAULT_MAX_RETRIES` and the backoff bounds) live here too: ``@job``
and the broker's middleware stack both read them from this module. See docs/reliability.md.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg
from dramatiq import Broker
from dramatiq.common import compute_backoff
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import Retries
from dramatiq.middleware.time_limit import TimeLimitExceeded
from sqlalchemy import exc as sa_exc

from yoked_actors.errors import PermanentError

#: Defaults of a job's own retry schedule: a transient fault (database restart, broker blip) is
#: over in seconds to minutes; Dramatiq's own default (20 tries over about a month) hides broken
#: jobs instead.
DEFAULT_MAX_RETRIES = 5
DEFAULT_MIN_BACKOFF_MS = 1_000
DEFAULT_MAX_BACKOFF_MS = 60_000

TRANSIENT_MAX_RETRIES = 20
TRANSIENT_MIN_BACKOFF_MS = 250
TRANSIENT_MAX_BACKOFF_MS = 5_000

#: Errors that mean "not now" rather than "not this": the server, the network or a time bound.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,  # connection refused / lost, statement_timeout, admin shutdown
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # no pooled connection available in time
    psycopg.OperationalError,
    TimeoutError,
    ConnectionError,
    httpx.TransportError,
    BrokerConnectionError,
    TimeLimitExceeded,
)


def is_transient(error: BaseException) -> bool:
    """True if ``error`` is worth a quick retry (see the module docstring)."""
    if isinstance(error, PermanentError):
        return False
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, TRANSIENT_ERRORS)


class RetryPolicy(Retries):
    """Dramatiq's Retries with a separate, faster schedule for transient errors.

    Options resolve message -> actor -> these defaults, like Dramatiq's.
    """

    def __init__(
        self,
        *,
        max_retries: int,
        min_backoff: int,
        max_backoff: int,
        transient_max_retries: int = TRANSIENT_MAX_RETRIES,
        transient_min_backoff: int = TRANSIENT_MIN_BACKOFF_MS,
        transient_max_backoff: int = TRANSIENT_MAX_BACKOFF_MS,
    ) -> None:
        super().__init__(max_retries=max_retries, min_backoff=min_backoff, max_backoff=max_backoff)
        self.transient = {
            "transient_max_retries": transient_max_retries,
            "transient_min_backoff": transient_min_backoff,
            "transient_max_backoff": transient_max_backoff,
        }

    @property
    def actor_options(self) -> set[str]:
        return super().actor_options | set(self.transient)

    def _option(self, message: Any, actor: Any, name: str, default: Any) -> Any:
        return message.options.get(name, actor.options.get(name, default))

    def _schedule(self, message: Any, actor: Any, exception: BaseException) -> tuple[int, int, int]:
        """(retry limit, backoff factor, backoff cap) for this failure: transient or not."""
        if is_transient(exception):
            return (
                self._option(
                    message, actor, "transient_max_retries", self.transient["transient_max_retries"]
                ),
                self._option(
                    message, actor, "transient_min_backoff", self.transient["transient_min_backoff"]
                ),
                self._option(
                    message, actor, "transient_max_backoff", self.transient["transient_max_backoff"]
                ),
            )
        return (
            self._option(message, actor, "max_retries", self.max_retries),
            self._option(message, actor, "min_backoff", self.min_backoff),
            self._option(message, actor, "max_backoff", self.max_backoff),
        )

    def after_process_message(
        self,
        broker: Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None:
            return
        actor = broker.get_actor(message.actor_name)
        throws = message.options.get("throws") or actor.options.get("throws")
        if isinstance(exception, PermanentError) or (throws and isinstance(exception, throws)):
            message.fail()
            return

        retries = message.options.setdefault("retries", 0)
        message.options["retries"] += 1
        # Dramatiq keeps the traceback in the message; ours stays out of messages (it may quote
        # arguments) and the run history keeps the error type and reason instead.
        message.options.pop("traceback", None)
        message.options["requeue_timestamp"] = int(time.time() * 1000)

        limit, factor, cap = self._schedule(message, actor, exception)
        if retries >= limit:
            self.logger.warning(
                "Retries exceeded for message %r (%s).",
                message.message_id,
                type(exception).__name__,
            )
            message.fail()
            return
        _, delay = compute_backoff(retries, factor=factor, max_backoff=cap)
        self.logger.info("Retrying message %r in %d milliseconds.", message.message_id, delay)
        broker.enqueue(message, delay=delay)


__all__ = [
    "DEFAULT_MAX_BACKOFF_MS",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MIN_BACKOFF_MS",
    "RetryPolicy",
    "is_transient",
]
