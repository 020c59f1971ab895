"""The project's exceptions: one root, and a split that the retry policy reads.

A :class:`PermanentError` means "running this again cannot help" (bad payload, a row that does not
exist): the job is not retried but dead-lettered with the reason. Anything else raised by a job is
treated as transient and retried with a short capped backoff.
"""

from __future__ import annotations


class YokedError(Exception):
    """Base class of every error this package raises on purpose."""


class SettingsError(YokedError):
    """A setting is missing or malformed; the message names the variable and a valid example."""


class PermanentError(YokedError):
    """Retrying cannot help: the message is dead-lettered with this reason instead."""


class PayloadError(PermanentError):
    """An actor's arguments do not match its schema; the message names the field."""


class UnknownActorError(PermanentError):
    """No actor or event is registered under this name."""


class NotFoundError(PermanentError):
    """A row the job needs does not exist (anymore)."""
