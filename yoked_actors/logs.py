"""Logging: JSON lines in production, readable text in a terminal; job arguments never logged.

Log records name ids (message id, user id, actor), never message text or tokens: that rule is
kept by the call sites, and the privacy tests check it. Two functions set logging up, both called
where a process starts, never as an import side effect:

- :func:`configure_logging`: handler, format and level of the root logger (long-running
  processes: the worker entrypoint, the outbox relay);
- :func:`install_job_log_policy`: what every process that runs or sends jobs needs (called when
  jobs are bound to a broker, ``yoked_actors.broker.use_broker``): Dramatiq messages appear in
  log records as ``actor[id]`` without their arguments, and Dramatiq's warning about jobs that
  return a value is dropped. :func:`quiet_actor_logger` keeps an actor's logger at INFO.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy

from yoked_actors.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(process)d %(threadName)s %(name)s: %(message)s"
#: Attributes of every LogRecord; anything else was passed with ``extra=`` and is kept.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the ``extra=`` fields as top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


#: What Dramatiq passes to its log calls: messages, and the proxies workers wrap them in.
_MESSAGES = (dramatiq.Message, MessageProxy)


class _MessageWithoutArguments:
    """How a Dramatiq message appears in a log record: actor and id, never its arguments."""

    def __init__(self, message: dramatiq.Message[Any] | MessageProxy) -> None:
        self.text = f"{message.actor_name}[{message.message_id}]"

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def _redacting_factory(base: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        if isinstance(record.args, tuple) and any(isinstance(a, _MESSAGES) for a in record.args):
            record.args = tuple(
                _MessageWithoutArguments(a) if isinstance(a, _MESSAGES) else a for a in record.args
            )
        return record

    factory.redacts_messages = True  # type: ignore[attr-defined]
    return factory


def redact_message_arguments() -> None:
    """Make every log record show Dramatiq messages as ``actor[id]``.

    Dramatiq logs failures as "Failed to process message actor(args, kwargs)", which would put
    chat text and other personal data into logs and, through Sentry's logging breadcrumbs, into
    Sentry. A record factory sees every record, whichever logger or handler it goes to.
    """
    current = logging.getLogRecordFactory()
    if not getattr(current, "redacts_messages", False):
        logging.setLogRecordFactory(_redacting_factory(current))


class _KeepSummaries(logging.Filter):
    """Jobs return small summaries on purpose (the run history records them), not results for a
    Dramatiq result backend; Dramatiq warns about each one, which is noise here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned a value that is not None" not in str(record.msg)


#: The logger of Dramatiq's worker threads, which warns about returned values.
_WORKER_THREAD_LOGGER = "dramatiq.worker.WorkerThread"


def install_job_log_policy() -> None:
    """Never log job arguments; drop the returned-value warning. Idempotent."""
    redact_message_arguments()
    worker_logger = logging.getLogger(_WORKER_THREAD_LOGGER)
    if not any(isinstance(f, _KeepSummaries) for f in worker_logger.filters):
        worker_logger.addFilter(_KeepSummaries())


def quiet_actor_logger(actor_logger: logging.Logger) -> None:
    """Keep an actor's logger at INFO or above, whatever LOG_LEVEL says.

    Dramatiq's actor logs "Received args=... kwargs=..." at DEBUG: payloads hold chat text and
    ids, so that logger never goes below INFO.
    """
    actor_logger.setLevel(logging.INFO)


def configure_logging(settings: Settings) -> None:
    """Send the root logger to stderr in the configured format and level."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # pika logs every reconnect attempt at INFO; keep its warnings only.
    logging.getLogger("pika").setLevel(logging.WARNING)
