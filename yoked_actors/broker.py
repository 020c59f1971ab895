"""The one place that builds the broker and its middleware.

``setup_broker()`` builds it from the settings and makes it Dramatiq's global broker: RabbitMQ
when ``RABBITMQ_URL`` is set, an in-process stub otherwise (only ``yoked dev`` and unit tests run
without RabbitMQ). Actors declared before or after are bound to it.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
from dramatiq import Broker, Middleware
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    ShutdownNotifications,
    TimeLimit,
)

from yoked_actors.jobs import DEFAULT_MAX_BACKOFF_MS, DEFAULT_MAX_RETRIES, DEFAULT_MIN_BACKOFF_MS
from yoked_actors.middleware.database import DatabaseLifecycle
from yoked_actors.middleware.idempotency import Idempotency
from yoked_actors.middleware.retry_policy import RetryPolicy
from yoked_actors.middleware.run_history import RunHistory
from yoked_actors.middleware.scheduled_fires import ScheduledFires
from yoked_actors.settings import Settings, get_settings

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
        ShutdownNotifications(notify_shutdown=True),
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
        #    instead of periodiq's silent drop after 30 s (scheduling/middleware.py).
        ScheduledFires(),
    ]
    if metrics and settings.metrics_port:
        # The exporter reads its port from the environment when it is imported.
        os.environ.setdefault("dramatiq_prom_port", str(settings.metrics_port))
        from dramatiq.middleware.prometheus import Prometheus

        stack.append(Prometheus())
    return stack


def build_broker(settings: Settings | None = None, *, metrics: bool = False) -> Broker:
    """A new broker for the settings: RabbitMQ with publisher confirms, or the stub."""
    settings = settings or get_settings()
    middleware = middleware_stack(settings, metrics=metrics)
    if settings.rabbitmq_url:
        return RabbitmqBroker(
            url=amqp_url_with_defaults(settings.rabbitmq_url),
            confirm_delivery=True,  # send() returns only once RabbitMQ has the message
            middleware=middleware,
        )
    return StubBroker(middleware=middleware)


def use_broker(broker: Broker) -> Broker:
    """Make ``broker`` the global broker and re-declare every known job's actor on it."""
    from yoked_actors.jobs import JOBS

    dramatiq.set_broker(broker)
    for declared in JOBS.values():
        declared.actor.broker = broker
        broker.declare_actor(declared.actor)
    return broker


def setup_broker(settings: Settings | None = None, *, metrics: bool = False) -> Broker:
    """Build the broker from the settings and install it as the global one."""
    return use_broker(build_broker(settings, metrics=metrics))
