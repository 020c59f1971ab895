"""Run events: the statuses a run goes through, and how two events of one message merge.

Pure values and functions, no I/O. An event is a dict of ``job_runs`` columns. Events of one
message are ordered by (attempt, status rank): :func:`merge_events` keeps the later status and
every field either event knew, exactly as the table's upsert does
(:data:`yoked_actors.runs.store.UPSERT_RUNS`), so merging in memory first never changes what
lands in the table, and a row never moves backwards. See docs/reliability.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: Order of the statuses within one attempt; (attempts, rank) only ever grows for a row.
STATUS_RANK = {
    "queued": 0,
    "running": 1,
    "retrying": 2,
    # Still running when its worker shut down (grace period over): the message goes back to
    # its queue unacknowledged, with no retry consumed, and this attempt runs again.
    "interrupted": 2,
    "succeeded": 3,
    "skipped": 3,
    "failed": 3,  # permanent error: dead-lettered at once, not retried
    "dead": 3,  # retries exhausted: dead-lettered
}
TERMINAL = frozenset({"succeeded", "skipped", "failed", "dead"})
#: Statuses whose payload is kept so that the run can be replayed.
REPLAYABLE_STATUSES = ("failed", "dead")
REPLAYABLE = frozenset(REPLAYABLE_STATUSES)

#: A payload bigger than this (as JSON) is not kept: such a run cannot be replayed.
MAX_KEPT_PAYLOAD_BYTES = 64 * 1024


def _order(event: Mapping[str, Any]) -> tuple[int, int]:
    return (event.get("attempts") or 0, event["status_rank"])


def merge_events(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Two events of one message as one: the later status wins, no known field is lost.

    Mirrors the upsert, so merging in memory first never changes what lands in the table.
    """
    first, second = (old, new) if _order(new) >= _order(old) else (new, old)
    merged = dict(first)
    merged.update({k: v for k, v in second.items() if v is not None})
    if old.get("enqueued_at") and new.get("enqueued_at"):
        merged["enqueued_at"] = min(old["enqueued_at"], new["enqueued_at"])
    return merged


def keepable_payload(kwargs: Any, args: Any) -> dict[str, Any] | None:
    """The message's arguments as stored for replay, or None if too big or not JSON."""
    try:
        kept = {"kwargs": kwargs, "args": list(args)} if args else {"kwargs": kwargs}
        if len(json.dumps(kept)) > MAX_KEPT_PAYLOAD_BYTES:
            return None
    except (TypeError, ValueError):
        return None
    return kept
