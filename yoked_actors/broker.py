"""The one place that builds the broker, its middleware, and binds the declared jobs to it.

``setup_broker()`` builds the broker from the settings and installs it (``use_broker``):
RabbitMQ when ``RABBITMQ_URL`` is set, an in-process stub otherwise (only ``yoked dev`` and unit
tests run without RabbitMQ). Installing a broker

- makes it Dramatiq's global broker,
- binds every declared job (``yoked_actors.jobs.JOBS``) to it: the job's Dramatiq actor is built
  on the first binding and moved to the new broker on later ones; a job declared afterwards is
  bound as it is declared,
- sets up the job log policy (``yoked_actors.logs.install_job_log_policy``): no job argument in
  any log record.

Nothing else binds jobs or builds a broker: importing the actor modules declares jobs only.
Processes call ``setup_broker`` where they start: the worker entrypoint, the CLI commands that
send (``yoked_actors.cli.common.connect_broker``), ``yoked dev``; tests call ``use_broker``.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
from dramatiq import Broker, Middleware
from dramatiq.brokers.rabbitmq import _RabbitmqConsumer
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    TimeLimit,
)

from yoked_actors.errors import BROKER_ERRORS
from yoked_actors.jobs import JOBS, Job, bind_new_jobs_with
from yoked_actors.logs import install_job_log_policy, quiet_actor_logger
from yoked_actors.middleware.database import DatabaseLifecycle
from yoked_actors.middleware.idempotency import Idempotency
from yoked_actors.middleware.retry_policy import (
    DEFAULT_MAX_BACKOFF_MS,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MIN_BACKOFF_MS,
    RetryPolicy,
)
from yoked_actors.middleware.run_history import RunHistory
from yoked_actors.middleware.scheduled_fires import ScheduledFires
from yoked_actors.rabbitmq import TypedRabbitmqBroker, ordered_nodes
from yoked_actors.settings import Settings, get_settings

logger = logging.getLogger(__name__)

#: AMQP connection defaults, unless the URL sets them. A heartbeat lets both sides notice a dead
#: peer within a minute; the blocked-connection timeout turns a send stuck behind a RabbitMQ
#: memory or disk alarm into an error instead of a thread blocked for as long as the alarm lasts.
AMQP_DEFAULTS = {
    "heartbeat": "30",
    "blocked_connection_timeout": "60",
    "connection_attempts": "3",
    "retry_delay": "1",
    "socket_timeout": "10",
}


def amqp_url_with_defaults(url: str) -> str:
    """``url`` with :data:`AMQP_DEFAULTS` added for every parameter it does not set itself."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in AMQP_DEFAULTS.items():
        query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def middleware_stack(settings: Settings, *, metrics: bool = False) -> list[Middleware]:
    """Every middleware, in the order Dramatiq runs their hooks.

    ``metrics`` adds the Prometheus exporter; only `dramatiq` worker processes (which fork the
    exposition server) want it.
    """
    stack: list[Middleware] = [
        # -- Admission: drop what should not run at all, before any work is done.
        AgeLimit(),  # honours an actor's or message's max_age
        # -- Execution bounds.
        TimeLimit(),  # interrupts Python code only; SQL and HTTP carry their own timeouts
        # No ShutdownNotifications: interrupting jobs at SIGTERM cost each one a retry. A
        # stopping worker lets them finish within WORKER_SHUTDOWN_GRACE_S (`yoked worker`
        # passes it as Dramatiq's shutdown timeout); RunHistory records the rest interrupted.
        # -- Resources.
        DatabaseLifecycle(),
        # -- Record keeping: RunHistory before Idempotency (a skip is recorded with its reason)
        #    and before RetryPolicy (after-hooks run in reverse order, so it sees whether the
        #    message was failed or scheduled for another attempt). Both only buffer / read:
        #    run history is written in batches by a background thread.
        RunHistory(enabled=settings.database_url is not None),
        Idempotency(),
        # -- Composition.
        Callbacks(),
        Pipelines(),
        # -- Failure policy: transient errors (database, network, timeouts) retried soon with a
        #    capped backoff; other errors a few times, slower; PermanentError dead-lettered at
        #    once. Never Dramatiq's month (middleware/retry_policy.py).
        RetryPolicy(
            max_retries=DEFAULT_MAX_RETRIES,
            min_backoff=DEFAULT_MIN_BACKOFF_MS,
            max_backoff=DEFAULT_MAX_BACKOFF_MS,
        ),
        CurrentMessage(),
        # -- Scheduling: accepts periodiq's `periodic` actor option; a scheduled message that
        #    waited beyond its fire's catch-up window is recorded as missed (WARNING + ledger)
        #    instead of periodiq's silent drop after 30 s (middleware/scheduled_fires.py).
        ScheduledFires(),
    ]
    if metrics and settings.metrics_port:
        # The exporter reads its port from the environment when it is imported.
        os.environ.setdefault("dramatiq_prom_port", str(settings.metrics_port))
        from dramatiq.middleware.prometheus import Prometheus

        stack.append(Prometheus())
    return stack


#: Extra prefetch per consumer for acknowledgements waiting on the run-history commit.
DEFERRED_ACK_ALLOWANCE = 128


class _RecordedAckConsumer(_RabbitmqConsumer):
    """Dramatiq's RabbitMQ consumer, acknowledging a message only once its run is on record.

    The worker thread hands the acknowledgement to the run recorder and goes on with the next
    message; the recorder's flusher sends it right after the statement that commits the run's
    events (group commit). A worker killed before that point leaves the message
    unacknowledged: RabbitMQ redelivers it and the redelivery is recorded.
    """

    def __init__(self, broker: Any, queue_name: str, prefetch: int, timeout: int) -> None:
        # Finished runs waiting for their commit still count against RabbitMQ's prefetch
        # window: widen it by what one commit's latency holds, or that latency would bound
        # the throughput (Dramatiq's default is only 2 per thread).
        super().__init__(broker, queue_name, prefetch + DEFERRED_ACK_ALLOWANCE, timeout)
        self.recorder = next(
            (m.recorder for m in broker.middleware if isinstance(m, RunHistory) and m.enabled),
            None,
        )

    def ack(self, message: Any) -> None:
        if self.recorder is None or not self.recorder.after_commit(
            message.message_id, partial(_RabbitmqConsumer.ack, self, message)
        ):
            super().ack(message)

    def nack(self, message: Any) -> None:
        if self.recorder is None or not self.recorder.after_commit(
            message.message_id, partial(_RabbitmqConsumer.nack, self, message)
        ):
            super().nack(message)


class ServiceBroker(TypedRabbitmqBroker):
    """RabbitMQ with the acknowledgement deferred until the run is recorded (see
    :class:`_RecordedAckConsumer`); RunHistory then has no need to block the worker thread."""

    acks_after_commit = True

    @property
    def consumer_class(self) -> type[_RabbitmqConsumer]:
        return _RecordedAckConsumer


def amqp_urls(settings: Settings) -> list[str]:
    """The nodes of ``RABBITMQ_URL`` with :data:`AMQP_DEFAULTS`, starting at a random one
    unless ``RABBITMQ_NODE_ORDER=listed`` (yoked_actors/rabbitmq.py: how a connection fails
    over to the next)."""
    urls = [amqp_url_with_defaults(url) for url in settings.rabbitmq_urls]
    return urls if settings.rabbitmq_node_order == "listed" else ordered_nodes(urls)


def rabbitmq_broker(settings: Settings, middleware: list[Middleware]) -> ServiceBroker:
    """RabbitMQ with publisher confirms over every node of ``RABBITMQ_URL``, declaring its
    queues as ``RABBITMQ_QUEUE_TYPE``, acknowledging a message once its run is on record."""
    return ServiceBroker(
        queue_type=settings.rabbitmq_queue_type,
        url=amqp_urls(settings),
        confirm_delivery=True,  # send() returns only once RabbitMQ has the message
        middleware=middleware,
    )


def build_broker(settings: Settings | None = None, *, metrics: bool = False) -> Broker:
    """A new broker for the settings: RabbitMQ (:func:`rabbitmq_broker`), or the stub."""
    settings = settings or get_settings()
    middleware = middleware_stack(settings, metrics=metrics)
    if settings.rabbitmq_url:
        return rabbitmq_broker(settings, middleware)
    return StubBroker(middleware=middleware)


def _actor_function(declared: Job[Any]) -> Any:
    """The function the job's actor runs, named after the job (Dramatiq and Sentry show it)."""

    def receive(*args: Any, **kwargs: Any) -> Any:
        return declared.receive(*args, **kwargs)

    receive.__name__ = receive.__qualname__ = declared.name.replace(".", "_")
    receive.__module__ = declared.fn.__module__
    return receive


def bind_job(declared: Job[Any], broker: Broker) -> None:
    """Give ``declared`` an actor on ``broker``: built (and its options checked against the
    broker's middleware) on the first binding, moved to ``broker`` on later ones."""
    if declared.bound:
        declared.actor.broker = broker
        broker.declare_actor(declared.actor)
        return
    actor = dramatiq.actor(
        broker=broker,
        actor_name=declared.name,
        queue_name=declared.queue,
        **declared.options,
    )(_actor_function(declared))
    quiet_actor_logger(actor.logger)
    declared.bind(actor)


def use_broker(broker: Broker) -> Broker:
    """Install ``broker``: Dramatiq's global broker, every declared job (and every job declared
    from now on) bound to it, the job log policy set up."""
    install_job_log_policy()
    dramatiq.set_broker(broker)
    for declared in JOBS.values():
        bind_job(declared, broker)
    bind_new_jobs_with(lambda declared: bind_job(declared, broker))
    logger.debug("%d jobs bound to %s", len(JOBS), type(broker).__name__)
    return broker


def declare_queues(broker: Broker) -> None:
    """Declare every bound job's queues on RabbitMQ now (a worker at start), so that queues of
    another type stop the process with :class:`~yoked_actors.rabbitmq.QueueTypeMismatch`, whose
    message says what to do. RabbitMQ being unreachable is not an error here: the consumers
    declare the queues when they connect."""
    if not isinstance(broker, TypedRabbitmqBroker):
        return
    try:
        for queue in sorted(broker.get_declared_queues()):
            broker.declare_queue(queue, ensure=True)
    except BROKER_ERRORS as error:
        logger.warning(
            "queues not declared at start: RabbitMQ unreachable (%s)", type(error).__name__
        )
    finally:
        # This thread sends nothing afterwards: an idle connection would miss its heartbeats.
        del broker.connection


def setup_broker(settings: Settings | None = None, *, metrics: bool = False) -> Broker:
    """Build the broker from the settings and install it (:func:`use_broker`)."""
    return use_broker(build_broker(settings, metrics=metrics))
