"""Declaring a job: an actor with a name, a queue, a payload schema and a retry policy.

Every actor of the project is declared with :func:`job`, never with ``dramatiq.actor`` directly,
so that the things every job needs are in one place:

- the payload is a pydantic model; a send with a bad payload raises :class:`PayloadError`
  naming the field, before anything is enqueued; a message that reaches a worker anyway fails
  with the same error and is dead-lettered (not retried);
- the wire format is fixed: no positional args, the payload as JSON ``kwargs``
  (docs/wire-format.md), so the TypeScript API can publish messages without Python;
- retries are few and short by default, and :class:`PermanentError` is never retried.

Example::

    class Payload(BaseModel):
        message_id: UUID

    @job("moderation.moderate_message", queue=Queue.MODERATION, payload=Payload)
    def moderate_message(payload: Payload) -> dict:
        ...
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import dramatiq
import pydantic
from pydantic import BaseModel, ConfigDict

from yoked_actors.errors import PayloadError, PermanentError, UnknownActorError
from yoked_actors.logs import redact_message_arguments
from yoked_actors.queues import Queue

P = TypeVar("P", bound=BaseModel)

#: Retry defaults: a transient fault (database restart, broker blip) is over in seconds to
#: minutes; Dramatiq's own default (20 tries over about a month) hides broken jobs instead.
DEFAULT_MAX_RETRIES = 5
DEFAULT_MIN_BACKOFF_MS = 1_000
DEFAULT_MAX_BACKOFF_MS = 60_000
DEFAULT_TIME_LIMIT_MS = 60_000


class _KeepSummaries(logging.Filter):
    """Jobs return small summaries on purpose (the run history records them), not results for a
    Dramatiq result backend; Dramatiq warns about each one, which is noise here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned a value that is not None" not in str(record.msg)


logging.getLogger("dramatiq.worker.WorkerThread").addFilter(_KeepSummaries())
redact_message_arguments()  # wherever jobs exist, logs never show their arguments


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
    """A declared job: its actor plus what is needed to validate, send and run it."""

    name: str
    queue: str
    payload: type[P]
    fn: Callable[[P], Any]
    actor: dramatiq.Actor[..., Any] = field(repr=False)

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
        """A validated message ready to enqueue (``options`` are Dramatiq message options)."""
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
        if the payload is bad.

        With ``idempotency_key``, a run whose key already succeeded is skipped
        (``yoked_actors.middleware.idempotency``).
        """
        if idempotency_key is not None:
            options["idempotency_key"] = idempotency_key
        message = self.message(data, **options)
        return self.actor.broker.enqueue(message, delay=delay)

    def run(self, data: Mapping[str, Any] | P) -> Any:
        """Run the job synchronously in this process (operators, tests, `yoked run`)."""
        return self.fn(self.validate(data))


#: Every declared job by name; filled as the actor modules are imported.
JOBS: dict[str, Job[Any]] = {}


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

    ``options`` are passed to Dramatiq as actor options (e.g. ``max_age``). The job is retried
    ``max_retries`` times with exponential backoff between ``min_backoff`` and ``max_backoff``
    milliseconds, except on :class:`PermanentError`, which dead-letters the message at once.
    """

    def declare(fn: Callable[[P], Any]) -> Job[P]:
        if name in JOBS:
            raise ValueError(f"a job named {name!r} is already declared")
        declared: Job[P]

        def receive(*args: Any, **kwargs: Any) -> Any:
            if args:
                raise PayloadError(
                    f"{name}: positional arguments are not accepted; "
                    "send the payload as keyword arguments (kwargs)"
                )
            return fn(declared.validate(kwargs))

        receive.__name__ = receive.__qualname__ = name.replace(".", "_")
        receive.__module__ = fn.__module__
        actor = dramatiq.actor(
            broker=_current_broker(),
            actor_name=name,
            queue_name=str(queue),
            max_retries=max_retries,
            min_backoff=min_backoff,
            max_backoff=max_backoff,
            time_limit=time_limit,
            throws=(PermanentError,),
            **options,
        )(receive)
        # Dramatiq's actor logs "Received args=... kwargs=..." at DEBUG: payloads hold chat
        # text and ids, so that logger never goes below INFO, whatever LOG_LEVEL says.
        actor.logger.setLevel(logging.INFO)
        declared = Job(name=name, queue=str(queue), payload=payload, fn=fn, actor=actor)
        JOBS[name] = declared
        return declared

    return declare


def _current_broker() -> dramatiq.Broker:
    # Dramatiq would otherwise invent a default RabbitMQ broker without our middleware.
    from dramatiq.broker import global_broker

    if global_broker is not None:
        return global_broker
    from yoked_actors.broker import setup_broker

    return setup_broker()


def get_job(name: str) -> Job[Any]:
    """The job declared as ``name``. Raises UnknownActorError listing the known ones."""
    try:
        return JOBS[name]
    except KeyError:
        known = ", ".join(sorted(JOBS)) or "none"
        raise UnknownActorError(f"unknown actor {name!r}; known actors: {known}") from None
