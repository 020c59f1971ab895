"""An optional remote moderation provider, off by default.

A provider answers ``moderate(text) -> {category: score} | None``; ``None`` means "no answer"
(timeout, error, malformed reply) and the engine keeps its local verdict. The HTTP provider posts
``{"text": ...}`` to ``MODERATION_PROVIDER_URL`` and expects ``{"scores": {category: score}}``;
it is bounded by ``MODERATION_PROVIDER_TIMEOUT_MS`` (default 300 ms: a chat line must be judged
in well under a second). Failures are logged by kind only, never with the text.

The variables are read with the rest of the configuration
(:class:`yoked_actors.settings.ModerationProviderSettings`); :func:`configured_provider` is the
process's provider, built once. See docs/moderation.md.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Protocol

import httpx

from yoked_actors.settings import (
    DEFAULT_MODERATION_TIMEOUT_MS,
    ModerationProviderSettings,
    get_settings,
)

logger = logging.getLogger(__name__)


class Provider(Protocol):
    """Anything that can score a text; ``None`` when it cannot answer."""

    def moderate(self, text: str) -> dict[str, float] | None: ...


class HttpProvider:
    """A JSON-over-HTTP moderation API, with a hard timeout and no retries (fallback instead)."""

    def __init__(
        self, url: str, *, timeout_ms: int = DEFAULT_MODERATION_TIMEOUT_MS, token: str | None = None
    ):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url
        self._client = httpx.Client(timeout=timeout_ms / 1000, headers=headers)

    def moderate(self, text: str) -> dict[str, float] | None:
        """The provider's scores, or None on timeout, HTTP error or a malformed reply."""
        try:
            response = self._client.post(self.url, json={"text": text})
            response.raise_for_status()
            scores = response.json()["scores"]
            return {str(name): min(max(float(score), 0.0), 1.0) for name, score in scores.items()}
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as error:
            # The error's type only: its text could quote the request.
            logger.warning(
                "moderation provider failed (%s); using the local verdict", type(error).__name__
            )
            return None

    def close(self) -> None:
        self._client.close()


def make_provider(settings: ModerationProviderSettings) -> HttpProvider | None:
    """The provider ``settings`` describe, or None (no URL: offline only)."""
    if settings.url is None:
        return None
    return HttpProvider(settings.url, timeout_ms=settings.timeout_ms, token=settings.token)


@cache
def configured_provider() -> HttpProvider | None:
    """The process's remote provider (None: offline), built once from :func:`get_settings`;
    its HTTP pool is shared by every job thread. ``configured_provider.cache_clear()`` forgets it
    (tests that change the settings)."""
    return make_provider(get_settings().moderation_provider)
