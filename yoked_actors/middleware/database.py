"""Database lifecycle in worker processes."""

from __future__ import annotations

from typing import Any

from dramatiq import Broker, Middleware

from yoked_actors import db


class DatabaseLifecycle(Middleware):
    """Builds the engine when a worker process boots and closes its pool when it stops.

    A pool inherited through ``fork`` would share sockets with the parent; building the engine
    after boot gives each worker process its own connections.
    """

    def after_process_boot(self, broker: Broker) -> None:
        db.dispose()

    def after_worker_shutdown(self, broker: Broker, worker: Any) -> None:
        # After, not before: Dramatiq emits before_worker_shutdown while job threads still run,
        # and a pool disposed under them leaves their connections to the garbage collector.
        db.dispose()
