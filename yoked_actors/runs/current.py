"""The run this worker thread is processing, as the run-history middleware tracks it.

One value per thread (Dramatiq runs one message at a time per worker thread). Other middleware
and the idempotency helpers call :func:`mark_skipped` so that a run they stop, or that finds its
work already done, is recorded as ``skipped`` with their reason instead of ``succeeded``.
See docs/reliability.md.
"""

from __future__ import annotations

import threading


class CurrentRun(threading.local):
    """Per-thread state of the run in progress."""

    #: (message id, attempt, start time in epoch seconds) of the run in progress, if any.
    run: tuple[str, int, float] | None = None
    #: Why the run in progress is to be recorded as skipped (None: it is not).
    skip_reason: str | None = None
    #: Message id of the last run this thread recorded as finished.
    finished: str | None = None


#: The calling thread's run.
CURRENT = CurrentRun()


def mark_skipped(reason: str) -> None:
    """Record the current run as skipped (with ``reason``) instead of succeeded.

    Called by the idempotency helpers when a job finds its work already done.
    """
    CURRENT.skip_reason = reason
