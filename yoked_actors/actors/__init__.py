"""The actor modules, one per job, listed explicitly.

A worker imports exactly these (``load_actors``); a module missing here is never consumed, so a
new job module must be added to ``ACTOR_MODULES``.
"""

from __future__ import annotations

import importlib

ACTOR_MODULES: tuple[str, ...] = (
    "yoked_actors.actors.system",
    "yoked_actors.actors.notifications",
    "yoked_actors.actors.maintenance",
    "yoked_actors.actors.moderation",
    "yoked_actors.actors.matching",
    "yoked_actors.actors.analytics",
)


def load_actors() -> None:
    """Import every actor module, so that its jobs are declared.

    Declaring only records a job; ``broker.use_broker`` binds them all to a broker.
    """
    for module in ACTOR_MODULES:
        importlib.import_module(module)


def boot_actors() -> None:
    """Run each actor module's ``on_worker_boot()`` (if it has one): a worker process calls this
    once at start, so that models and the like load before the first message, not on it."""
    for module in ACTOR_MODULES:
        hook = getattr(importlib.import_module(module), "on_worker_boot", None)
        if hook is not None:
            hook()
