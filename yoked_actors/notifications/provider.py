"""Choosing the push provider: the Expo client or the log-only one, as ``PUSH_PROVIDER`` says.

:func:`push_provider` is the process's provider, built once from the settings
(:class:`yoked_actors.settings.PushSettings`): its HTTP pool and its rate limiter are shared by
every job thread. docs/notifications.md describes the variables.
"""

from __future__ import annotations

from functools import cache

from yoked_actors.notifications.expo import ExpoPushClient
from yoked_actors.notifications.push import LogPushProvider, PushProvider
from yoked_actors.settings import PushSettings, get_settings


def make_provider(settings: PushSettings) -> PushProvider:
    """The provider ``settings`` choose: "expo" -> the Expo client, "log" -> log only."""
    if settings.provider == "expo":
        return ExpoPushClient(settings)
    return LogPushProvider()


@cache
def push_provider() -> PushProvider:
    """The process's push provider, built once from :func:`get_settings`.
    ``push_provider.cache_clear()`` forgets it (tests that change the settings; close it first)."""
    return make_provider(get_settings().push)
