"""The job side of ``matching.generate_daily``: one timezone's offers for one local date, each
step in its own transaction (docs/matching.md).

1. **Run record** (one transaction): ``matching_runs`` (timezone, local_date) is created on the
   first attempt and fixes the run's clock ``as_of``; a completed run returns its summary and
   writes nothing.
2. **Read** (one transaction): the run's people, forbidden pairs and the offers already on
   their own local days, in bulk (``store.read_run``).
3. **Decide**, with no database: ``run.decide``.
4. **Write offers** in chunks of ``OFFER_CHUNK`` rows, each chunk and its count on the run one
   transaction, ``WRITERS`` chunks at a time on as many connections; then one ``daily_matches``
   notification per person offered, chunked the same way; last, in one transaction, the
   completed run summary.

Idempotent and resumable: the inputs never include this run's own offers (those of this
timezone and local date) and the clock is the first attempt's, so every attempt computes the
same offers; a rerun after a crash inserts only what is missing. A user's quota counts the
offers already on their own local date in any timezone, and a user who received offers for
another local date in the last 20 hours gets none (someone who moved west never gets two
batches in one day).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any, TypeVar

import numpy.typing as npt

from yoked_actors.clock import utc_now
from yoked_actors.db import session_scope
from yoked_actors.matching import store
from yoked_actors.matching.memory import peak_rss_mb, return_freed_memory
from yoked_actors.matching.population import NOBODY_BIT
from yoked_actors.matching.run import (
    Offers,
    RunInput,
    build_input,
    daily_notices,
    decide,
    outcome,
)
from yoked_actors.matching.shards import EVERYWHERE, Region

logger = logging.getLogger(__name__)

OFFER_CHUNK = 50_000
#: Connections writing chunks at once. Chunks are independent transactions on disjoint rows:
#: two connections keep both of the database's cores busy (foreign-key checks and index
#: inserts are its work).
WRITERS = 2

T = TypeVar("T")
R = TypeVar("R")


def in_parallel(step: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``step`` over ``items`` on ``WRITERS`` threads (each step opens its own transaction)."""
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        return list(pool.map(step, items))


def chunks(count: int, size: int, *, split_at: int = 0) -> list[slice]:
    """``range(count)`` in slices of ``size``; none straddles ``split_at``."""
    first = [slice(start, min(start + size, split_at)) for start in range(0, split_at, size)]
    return first + [slice(start, start + size) for start in range(split_at, count, size)]


def start_run(timezone: str, local_date: date, now: datetime) -> store.RunRecord:
    """Create the run record, or count another attempt on it; its ``as_of`` is the clock."""
    with session_scope() as session:
        return store.start_run(session, timezone, local_date, now)


def read_input(
    timezone: str, local_date: date, as_of: datetime, region: Region = EVERYWHERE
) -> RunInput:
    """Read the run's people (in ``region``), forbidden pairs and quotas in one transaction,
    into arrays."""
    with session_scope() as session:
        read = store.read_run(session, timezone, local_date, as_of, NOBODY_BIT, region)
    return arrays_input(read, local_date, as_of)


def arrays_input(read: store.RunArrays, local_date: date, as_of: datetime) -> RunInput:
    """The run's input from what ``store.read_run`` read."""
    return build_input(
        read.people, read.genders, read.zones, read.forbidden, read.already, local_date, as_of
    )


def write_chunk(
    timezone: str,
    local_date: date,
    as_of: datetime,
    ids: npt.NDArray[Any],
    offers: Offers,
    rows: slice,
) -> int:
    """Insert one chunk of offers and count the chunk on the run, in one transaction.
    Returns the rows inserted (0 for rows an earlier attempt wrote)."""
    with session_scope() as session:
        inserted = store.insert_offers(session, timezone, local_date, as_of, ids, offers, rows)
        store.count_chunk(session, timezone, local_date, inserted)
    return inserted


def write_offers(
    timezone: str,
    local_date: date,
    as_of: datetime,
    run_input: RunInput,
    offers: Offers,
    chunk_size: int,
) -> int:
    """Write every offer, chunk by chunk. Returns the rows inserted by this attempt."""
    ids = run_input.population.ids
    return sum(
        in_parallel(
            lambda rows: write_chunk(timezone, local_date, as_of, ids, offers, rows),
            chunks(len(offers), chunk_size),
        )
    )


def finish_run(
    timezone: str,
    local_date: date,
    run_input: RunInput,
    offers: Offers,
    summary: dict[str, Any],
    *,
    chunk_size: int = OFFER_CHUNK,
) -> None:
    """One notification per user offered today (deduplicated by key), written once every offer
    is, then the completed summary. Notification chunks are their own transactions, written
    two at a time; a crash before the summary leaves the run ``running`` and its retry finds
    the notifications already there."""
    notices = daily_notices(run_input, offers)

    def write_notices(rows: slice) -> None:
        with session_scope() as session:
            store.insert_notifications(session, timezone, notices, rows)

    in_parallel(write_notices, chunks(len(notices), chunk_size, split_at=notices.fresh))
    with session_scope() as session:
        store.complete_run(session, timezone, local_date, summary)


def generate(
    timezone: str,
    local_date: date,
    *,
    now: datetime | None = None,
    chunk_size: int = OFFER_CHUNK,
    pair_budget: int | None = None,
    plan: Callable[[store.RunRecord], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Generate (or finish generating) the offers of ``timezone`` for ``local_date``.

    Returns the run summary: eligible users, users with at least one offer, offers selected
    and written by this attempt, mean score, candidate pairs, phase timings (ms), duration, and
    the process's peak RSS in MiB (``peak_rss_mb``, also in the run record) and at the end of
    each phase (``phase_peak_rss_mb``).
    A completed run returns its stored summary with ``already_completed`` and writes nothing.
    ``plan``: called with the run record before anything is read; a summary it returns ends the
    attempt there (``matching.sharding`` sends a too-big run's shards so).
    """
    ticks = {"started": time.perf_counter()}
    return_freed_memory()
    peaks: dict[str, int] = {}
    record = start_run(timezone, local_date, now or utc_now())
    if record.completed:
        return {**record.summary, "already_completed": True, "offers_written": 0}
    planned = plan(record) if plan else None
    if planned is not None:
        return planned
    run_input = read_input(timezone, local_date, record.as_of)
    ticks["read"] = time.perf_counter()
    peaks["read"] = peak_rss_mb()
    offers = decide(run_input, pair_budget=pair_budget)
    ticks["decided"] = time.perf_counter()
    peaks["decide"] = peak_rss_mb()
    written = write_offers(timezone, local_date, record.as_of, run_input, offers, chunk_size)
    ticks["offers_written"] = time.perf_counter()
    summary = outcome(run_input, offers)
    summary["duration_ms"] = _ms(ticks["started"], time.perf_counter())
    summary["peak_rss_mb"] = peak_rss_mb()
    finish_run(timezone, local_date, run_input, offers, summary, chunk_size=chunk_size)
    ticks["done"] = time.perf_counter()
    peaks["write"] = peak_rss_mb()
    summary.update(_details(run_input, offers, written, record, ticks))
    summary["peak_rss_mb"] = peaks["write"]
    summary["phase_peak_rss_mb"] = peaks
    _log(timezone, local_date, summary)
    return summary


def _ms(start: float, end: float) -> int:
    return int((end - start) * 1000)


def _details(
    run_input: RunInput,
    offers: Offers,
    written: int,
    record: store.RunRecord,
    ticks: dict[str, float],
) -> dict[str, Any]:
    """The summary's figures beyond the run record: counts, attempts, phase timings."""
    return {
        "offers_written": written,
        "people_read": len(run_input.population),
        "candidate_pairs": offers.candidates,
        "users_with_candidates": offers.subjects_with_candidates,
        "attempts": record.summary["attempts"],
        "timings_ms": {
            "read": _ms(ticks["started"], ticks["read"]),
            **offers.timings_ms,
            "decide": _ms(ticks["read"], ticks["decided"]),
            "write_offers": _ms(ticks["decided"], ticks["offers_written"]),
            "write": _ms(ticks["decided"], ticks["done"]),
        },
        "duration_ms": _ms(ticks["started"], ticks["done"]),
    }


def _log(timezone: str, local_date: date, summary: dict[str, Any]) -> None:
    logger.info(
        "generate_daily %s %s: %d eligible, %d with offers, %d offers written in %d ms",
        timezone,
        local_date,
        summary["eligible_users"],
        summary["users_with_offers"],
        summary["offers_written"],
        summary["duration_ms"],
    )
