"""What a worker process imports: settings, logging, Sentry, every actor, the broker.

``yoked worker`` runs ``dramatiq yoked_actors.entrypoint``; Dramatiq's CLI imports this module
and consumes the queues of the actors bound to ``broker``. Importing it starts the process's
services, in the order that matters (:func:`start_worker_process`); it is the only module whose
import builds a broker. The scheduler does not use periodiq's own loop (it double-fires and
forgets missed fires); ``yoked scheduler`` runs the ledger-backed loop of
``yoked_actors.scheduling`` over this module's broker instead.
"""

from __future__ import annotations

from dramatiq import Broker

from yoked_actors.actors import boot_actors, load_actors
from yoked_actors.broker import declare_queues, setup_broker
from yoked_actors.logs import configure_logging
from yoked_actors.rabbitmq import QueueTypeMismatch
from yoked_actors.sentry import init_sentry
from yoked_actors.settings import get_settings


def start_worker_process() -> Broker:
    """Check the settings, set up logging and Sentry, declare every job, run the actor modules'
    boot hooks (the moderation models load here), bind the jobs to the broker.

    A production process refuses to start half-configured (the error names the variable), or
    against queues of another type than ``RABBITMQ_QUEUE_TYPE`` (the error says how to migrate).
    Sentry starts before the broker: its Dramatiq integration patches ``Broker.__init__``.
    """
    settings = get_settings()
    settings.require_database_url()
    settings.require_rabbitmq_url()
    configure_logging(settings)
    init_sentry(settings)
    load_actors()
    boot_actors()
    broker = setup_broker(settings, metrics=True)
    try:
        declare_queues(broker)
    except QueueTypeMismatch as error:
        # One line that says what to do, instead of consumers retrying PRECONDITION_FAILED.
        raise SystemExit(f"yoked worker: {error}") from None
    return broker


broker = start_worker_process()
