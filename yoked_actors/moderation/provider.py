"""An optional remote moderation provider, off by default.

A provider answers ``moderate(text) -> {category: score} | None``; ``None`` means "no answer"
(timeout, error, malformed reply) and the engine keeps its local verdict. The HTTP provider posts
``{"text": ...}`` to ``MODERATION_PROVIDER_URL`` and expects ``{"scores": {category: score}}``;
it is bounded by ``MODERATION_PROVIDER_TIMEOUT_MS`` (default 300 ms: a chat line must be judged
in well under a second). Failures are logged by kind only, never with the text.

Environment:
  MODERATION_PROVIDER_URL         unset = no provider (the default)
  MODERATION_PROVIDER_TOKEN       sent as "Authorization: Bearer <token>" when set
  MODERATION_PROVIDER_TIMEOUT_MS  total time allowed for one call (default 300)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Protocol

import httpx

from yoked_actors.errors import SettingsError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_MS = 300


class Provider(Protocol):
    """Anything that can score a text; ``None`` when it cannot answer."""

    def moderate(self, text: str) -> dict[str, float] | None: ...


class HttpProvider:
    """A JSON-over-HTTP moderation API, with a hard timeout and no retries (fallback instead)."""

    def __init__(self, url: str, *, timeout_ms: int = DEFAULT_TIMEOUT_MS, token: str | None = None):
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
            log.warning(
                "moderation provider failed (%s); using the local verdict", type(error).__name__
            )
            return None

    def close(self) -> None:
        self._client.close()


def provider_from_env(env: Mapping[str, str] | None = None) -> HttpProvider | None:
    """The provider configured in the environment, or None (the default: offline only)."""
    env = os.environ if env is None else env
    url = env.get("MODERATION_PROVIDER_URL", "").strip()
    if not url:
        return None
    if not url.startswith(("http://", "https://")):
        raise SettingsError(
            "MODERATION_PROVIDER_URL must be an http(s) URL; "
            "example: MODERATION_PROVIDER_URL=https://moderation.example/v1/score"
        )
    raw_timeout = env.get("MODERATION_PROVIDER_TIMEOUT_MS", "").strip() or str(DEFAULT_TIMEOUT_MS)
    if not raw_timeout.isdigit() or int(raw_timeout) <= 0:
        raise SettingsError(
            f"MODERATION_PROVIDER_TIMEOUT_MS={raw_timeout!r} is invalid (must be a positive "
            "integer); example: MODERATION_PROVIDER_TIMEOUT_MS=300"
        )
    return HttpProvider(
        url, timeout_ms=int(raw_timeout), token=env.get("MODERATION_PROVIDER_TOKEN") or None
    )
