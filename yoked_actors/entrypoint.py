"""What a worker process imports: logging, Sentry, the broker, every actor.

``yoked worker`` runs ``dramatiq yoked_actors.entrypoint``. The scheduler does not use
periodiq's own loop (it double-fires and forgets missed fires); ``yoked scheduler`` runs the
ledger-backed loop of ``yoked_actors.scheduling`` instead.
"""

from __future__ import annotations

from yoked_actors.actors import load_actors
from yoked_actors.broker import setup_broker
from yoked_actors.logs import configure_logging
from yoked_actors.sentry import init_sentry
from yoked_actors.settings import get_settings

settings = get_settings()
# A production process refuses to start half-configured (the error names the variable).
settings.require_database_url()
settings.require_rabbitmq_url()
configure_logging(settings)
init_sentry(settings)  # before the broker: the Dramatiq integration patches Broker.__init__
broker = setup_broker(settings, metrics=True)
load_actors()
