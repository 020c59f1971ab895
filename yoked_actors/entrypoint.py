"""What a worker or scheduler process imports: logging, Sentry, the broker, every actor.

``dramatiq yoked_actors.entrypoint`` and ``periodiq yoked_actors.entrypoint`` work as is; the
``yoked worker`` and ``yoked scheduler`` commands use it too.
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
