"""Sentry error tracking, initialised before the broker so the Dramatiq integration hooks it.

Nothing personal leaves the process: ``data_collection`` turns off user info, bodies, query
data, queue payloads and frame variables, and ``scrub_event``
removes actor arguments (which carry chat text, for one) from every event before it is sent.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.dramatiq import DramatiqIntegration
from sentry_sdk.integrations.logging import LoggingIntegration

from yoked_actors import __version__
from yoked_actors.settings import Settings

#: Keys of a Dramatiq message that hold the caller's data.
_MESSAGE_DATA_KEYS = ("args", "kwargs")
_REDACTED = "[redacted]"


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Remove actor arguments and anything request-like from a Sentry event."""
    dramatiq_context = event.get("contexts", {}).get("dramatiq", {})
    data = dramatiq_context.get("data")
    if isinstance(data, dict):
        for key in _MESSAGE_DATA_KEYS:
            if key in data:
                data[key] = _REDACTED
        options = data.get("options")
        if isinstance(options, dict):
            # Retries put the traceback here; frames can quote arguments.
            options.pop("traceback", None)
    event.pop("request", None)
    for exception in event.get("exception", {}).get("values", []) or []:
        for frame in (exception.get("stacktrace") or {}).get("frames", []) or []:
            frame.pop("vars", None)
    return event


def init_sentry(settings: Settings) -> bool:
    """Start Sentry when ``SENTRY_DSN`` is set. Returns whether it was started."""
    if not settings.sentry_dsn:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment,
        release=f"yoked-actors@{__version__}",
        # Collect nothing about users, bodies, queries, queue payloads or frame variables.
        data_collection={
            "user_info": False,
            "http_bodies": [],
            "database_query_data": False,
            "queues": False,
            "stack_frame_variables": False,
        },
        before_send=scrub_event,  # type: ignore[arg-type]
        integrations=[DramatiqIntegration(), LoggingIntegration(event_level=None)],
    )
    return True
