"""The project's exceptions: one root, and a split that the retry policy reads.

A :class:`PermanentError` means "running this again cannot help" (bad payload, a row that does not
exist): the job is not retried but dead-lettered with the reason. Anything else raised by a job is
treated as transient and retried with a short capped backoff.

:func:`describe_error` turns any exception into a (type, one-line reason) fit to store: it never
quotes a statement's parameters. :data:`BROKER_ERRORS` are what a send raises while RabbitMQ is
unreachable. The policies are in docs/reliability.md.
"""

from __future__ import annotations

from dramatiq.errors import BrokerError
from pika.exceptions import AMQPError
from sqlalchemy.exc import StatementError


class YokedError(Exception):
    """Base class of every error this package raises on purpose."""


class SettingsError(YokedError):
    """A setting is missing or malformed; the message names the variable and a valid example."""


class UnboundJobError(YokedError):
    """A declared job was sent before any broker was installed in this process.

    Declaring a job only records it; ``yoked_actors.broker.setup_broker()`` (or ``use_broker``)
    binds every declared job to the broker. Processes do that at start (the worker entrypoint,
    the CLI commands that send, the test fixtures).
    """


class PermanentError(YokedError):
    """Retrying cannot help: the message is dead-lettered with this reason instead."""


class PayloadError(PermanentError):
    """An actor's arguments do not match its schema; the message names the field."""


class UnknownActorError(PermanentError):
    """No actor or event is registered under this name."""


class NotFoundError(PermanentError):
    """A row the job needs does not exist (anymore)."""


#: Longest error reason stored (run history, outbox rows): one line, cut to this length.
ERROR_MESSAGE_CHARS = 300

#: What a send raises when RabbitMQ is unreachable or refuses the message: worth retrying later.
BROKER_ERRORS = (BrokerError, AMQPError, ConnectionError, OSError)


def describe_error(error: BaseException) -> tuple[str, str]:
    """(type, short reason) of an exception, fit to store: one line, truncated.

    SQLAlchemy errors quote the statement and its parameters (which may hold personal data):
    only the driver's first line is kept.
    """
    kind = type(error).__name__
    if isinstance(error, StatementError) and error.orig is not None:
        kind = f"{kind}({type(error.orig).__name__})"
        reason = str(error.orig)
    else:
        reason = str(error)
    reason = (reason.strip().splitlines() or [""])[0]
    return kind, reason[:ERROR_MESSAGE_CHARS]
