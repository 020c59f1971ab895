"""Declaring a job: a name, a queue, a payload schema and a retry policy, recorded as a spec.

Every actor of the project is declared with :func:`job`, never with ``dramatiq.actor`` directly,
so that the things every job needs are in one place:

- the payload is a pydantic model; a send with a bad payload raises :class:`PayloadError`
  naming the field, before anything is enqueued; a message that reaches a worker anyway fails
  with the same error and is dead-lettered (not retried);
- the wire format is fixed: no positional args, the payload as JSON ``kwargs``
  (docs/wire-format.md), so the TypeScript API can publish messages without Python;
- retries are few and short by default (``yoked_actors.middleware.retry_policy``), and
  :class:`PermanentError` is never retried.

Declaring has no side effect: :func:`job` records a :class:`Job` in :data:`JOBS` and builds no
broker, no Dramatiq actor, no logging set-up. ``yoked_actors.broker.use_broker`` (or
``setup_broker``) binds every declared job to a broker, in one place; a job declared while a
broker is installed is bound to it as it is declared. Sending a job that was never bound raises
:class:`UnboundJobError`; :meth:`Job.run` needs no broker.

Example::

    class Payload(BaseModel):
        message_id: UUID

    @job("moderation.moderate_message", queue=Queue.MODERATION, payload=Payload)
    def moderate_message(payload: Payload) -> dict:
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import dramatiq
import pydantic
from pydantic import BaseModel, ConfigDict

from yoked_actors.errors import PayloadError, PermanentError, UnboundJobError, UnknownActorError
from yoked_actors.middleware.retry_policy import (
    DEFAULT_MAX_BACKOFF_MS,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MIN_BACKOFF_MS,
)
from yoked_actors.queues import Queue

P = TypeVar("P", bound=BaseModel)

#: How long a job may run by default before Dramatiq's TimeLimit interrupts it (Python code only:
#: SQL and HTTP calls carry their own timeouts).
DEFAULT_TIME_LIMIT_MS = 60_000


class NoPayload(BaseModel):
    """The payload of a job that takes no arguments (most scheduled jobs)."""

    model_config = ConfigDict(extra="forbid")


def describe_validation_error(error: pydantic.ValidationError) -> str:
    """One line naming each bad field and what is wrong, never the value (it may be personal)."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "payload"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


@dataclass
class Job(Generic[P]):
    """A declared job: what is needed to validate, run, and (once bound) send it.

    ``options`` are the Dramatiq actor options (retries, backoff, time limit, ``throws``, and
    any others given to :func:`job`, e.g. ``max_age`` or periodiq's ``periodic``).
    """

    name: str
    queue: str
    payload: type[P]
    fn: Callable[[P], Any]
    options: dict[str, Any] = field(default_factory=dict)
    _actor: dramatiq.Actor[..., Any] | None = field(default=None, init=False, repr=False)

    @property
    def bound(self) -> bool:
        """Whether a broker has been given this job's actor."""
        return self._actor is not None

    @property
    def actor(self) -> dramatiq.Actor[..., Any]:
        """The Dramatiq actor. Raises UnboundJobError if no broker was installed."""
        if self._actor is None:
            raise UnboundJobError(
                f"{self.name}: the job is not bound to a broker; call "
                "yoked_actors.broker.setup_broker() (or use_broker(broker)) before sending it"
            )
        return self._actor

    def bind(self, actor: dramatiq.Actor[..., Any]) -> None:
        """Record the actor a broker built for this job (``yoked_actors.broker`` only)."""
        self._actor = actor

    def receive(self, *args: Any, **kwargs: Any) -> Any:
        """What the actor runs in a worker: the wire's kwargs validated, then the job."""
        if args:
            raise PayloadError(
                f"{self.name}: positional arguments are not accepted; "
                "send the payload as keyword arguments (kwargs)"
            )
        return self.fn(self.validate(kwargs))

    def validate(self, data: Mapping[str, Any] | P) -> P:
        """The payload as its model. Raises PayloadError naming the bad fields."""
        if isinstance(data, self.payload):
            return data
        if not isinstance(data, Mapping):
            raise PayloadError(f"{self.name}: the payload must be a JSON object")
        try:
            return self.payload.model_validate(dict(data))
        except pydantic.ValidationError as error:
            raise PayloadError(f"{self.name}: {describe_validation_error(error)}") from None

    def message(self, data: Mapping[str, Any] | P, **options: Any) -> dramatiq.Message[Any]:
        """A validated message ready to enqueue (``options`` are Dramatiq message options).

        Raises PayloadError for a bad payload, UnboundJobError if no broker was installed.
        """
        payload = self.validate(data)
        return self.actor.message_with_options(kwargs=payload.model_dump(mode="json"), **options)

    def send(
        self,
        data: Mapping[str, Any] | P,
        *,
        delay: int | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> dramatiq.Message[Any]:
        """Validate and enqueue (after ``delay`` ms). Raises PayloadError, nothing enqueued,
        if the payload is bad, and UnboundJobError if no broker was installed.

        With ``idempotency_key``, a run whose key already succeeded is skipped
        (``yoked_actors.middleware.idempotency``).
        """
        if idempotency_key is not None:
            options["idempotency_key"] = idempotency_key
        message = self.message(data, **options)
        return self.actor.broker.enqueue(message, delay=delay)

    def run(self, data: Mapping[str, Any] | P) -> Any:
        """Run the job synchronously in this process (operators, tests, `yoked run`); no broker
        is needed."""
        return self.fn(self.validate(data))


#: Every declared job by name; filled as the actor modules are imported.
JOBS: dict[str, Job[Any]] = {}

#: Binds a job declared from now on; set by ``yoked_actors.broker.use_broker`` once a process
#: installs a broker, so that jobs declared after that (test jobs, a fault worker's job) are bound
#: to it too. None in a process that installed no broker: declaring then only records the job.
_bind_new_job: Callable[[Job[Any]], None] | None = None


def bind_new_jobs_with(binder: Callable[[Job[Any]], None] | None) -> None:
    """Have ``binder`` bind every job declared from now on (None: record them only)."""
    global _bind_new_job
    _bind_new_job = binder


def job(
    name: str,
    *,
    queue: Queue | str,
    payload: type[P],
    max_retries: int = DEFAULT_MAX_RETRIES,
    min_backoff: int = DEFAULT_MIN_BACKOFF_MS,
    max_backoff: int = DEFAULT_MAX_BACKOFF_MS,
    time_limit: int = DEFAULT_TIME_LIMIT_MS,
    **options: Any,
) -> Callable[[Callable[[P], Any]], Job[P]]:
    """Declare ``fn(payload)`` as the job ``name`` (namespaced: ``"matching.generate_daily"``).

    ``options`` are passed to Dramatiq as actor options (e.g. ``max_age``) when the job is bound.
    The job is retried ``max_retries`` times with exponential backoff between ``min_backoff``
    and ``max_backoff`` milliseconds, except on :class:`PermanentError`, which dead-letters the
    message at once.
    """

    def declare(fn: Callable[[P], Any]) -> Job[P]:
        if name in JOBS:
            raise ValueError(f"a job named {name!r} is already declared")
        declared = Job(
            name=name,
            queue=str(queue),
            payload=payload,
            fn=fn,
            options={
                "max_retries": max_retries,
                "min_backoff": min_backoff,
                "max_backoff": max_backoff,
                "time_limit": time_limit,
                "throws": (PermanentError,),
                **options,
            },
        )
        JOBS[name] = declared
        if _bind_new_job is not None:
            _bind_new_job(declared)
        return declared

    return declare


def get_job(name: str) -> Job[Any]:
    """The job declared as ``name``. Raises UnknownActorError listing the known ones."""
    try:
        return JOBS[name]
    except KeyError:
        known = ", ".join(sorted(JOBS)) or "none"
        raise UnknownActorError(f"unknown actor {name!r}; known actors: {known}") from None
