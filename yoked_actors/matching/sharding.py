"""The job side of sharded runs: ``matching.generate_daily`` splits a timezone too big for one
worker's memory budget and sends its shards; ``matching.generate_shard`` writes one band's
offers, and the last band to complete runs the border pass that finishes the day
(docs/matching.md, "Sharded runs"; the pure part is ``matching.shards``).

Crash-safe and order-free: the cuts are fixed by the run's first attempt; a shard reads no
other shard's offers (its people are its band's), so shards run in parallel in any order and a
retried shard writes only what is missing; completing a shard takes the run's row lock, so
exactly the shard that completes last sees every shard done and runs the border pass (a retry
of that message runs it again and writes what is missing). The border pass counts the shards'
offers against the quotas and never its own, so every attempt decides the same offers. The run
is completed once, by the border pass: the notifications (one per user, all shards counted) and
the summary come from what the run wrote.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from yoked_actors.db import session_scope
from yoked_actors.matching import generation, store
from yoked_actors.matching.memory import peak_rss_mb, return_freed_memory
from yoked_actors.matching.population import NOBODY_BIT
from yoked_actors.matching.run import PG_EPOCH, Notices, decide
from yoked_actors.matching.shards import band_region, border_input, border_region, shard_count
from yoked_actors.matching.store import shards as shard_store

logger = logging.getLogger(__name__)

#: Sends one shard's message: (timezone, local date, shard).
SendShard = Callable[[str, date, int], object]


def planner(
    timezone: str, local_date: date, memory_mb: int, send: SendShard, *, shards: int | None = None
) -> Callable[[store.RunRecord], dict[str, Any] | None]:
    """The ``plan`` of ``generation.generate``: None (generate here) when the run fits in
    ``memory_mb``; else fixes the cuts, sends every shard not yet completed and returns the
    plan's summary (the shards complete the run). ``shards``: split into this many whatever
    the budget (operators, tests, the benchmark)."""

    def plan(record: store.RunRecord) -> dict[str, Any] | None:
        cuts = record.shard_cuts
        if cuts is None:
            with session_scope() as session:
                subjects = shard_store.count_subjects(session, timezone, record.as_of)
            count = shards or shard_count(subjects, memory_mb)
            if count == 1:
                return None
            with session_scope() as session:
                cuts = shard_store.fix_cuts(session, timezone, local_date, record.as_of, count)
        if not cuts:
            return None
        with session_scope() as session:
            done = shard_store.completed_shards(session, timezone, local_date)
        pending = [shard for shard in range(len(cuts) + 1) if shard not in done]
        if not pending:  # every shard done, the border pass not: finish here
            return border_pass(timezone, local_date, cuts)
        for shard in pending:
            send(timezone, local_date, shard)
        logger.info("generate_daily %s %s: %d shards sent", timezone, local_date, len(pending))
        return {"sharded": True, "shards": len(cuts) + 1, "shards_sent": len(pending)}

    return plan


def generate_shard(
    timezone: str, local_date: date, shard: int, *, pair_budget: int | None = None
) -> dict[str, Any]:
    """Write the offers of one band of a sharded run; the shard that completes last runs the
    border pass. Raises ValueError for a run that was not sharded or a shard it lacks."""
    started = time.perf_counter()
    return_freed_memory()
    with session_scope() as session:
        record = store.get_run(session, timezone, local_date)
    if record is None or not record.shard_cuts:
        raise ValueError(f"{timezone} {local_date} is not a sharded run")
    if record.completed:
        return {**record.summary, "already_completed": True, "offers_written": 0}
    cuts = record.shard_cuts
    region = band_region(cuts, shard)
    with session_scope() as session:
        already = shard_store.start_shard(session, timezone, local_date, shard)
    summary: dict[str, Any] = {"shard": shard, "shards": len(cuts) + 1, "offers_written": 0}
    if already:
        with session_scope() as session:
            done = shard_store.completed_shards(session, timezone, local_date)
    else:
        run_input = generation.read_input(timezone, local_date, record.as_of, region)
        offers = decide(run_input, pair_budget=pair_budget)
        summary["offers_written"] = generation.write_offers(
            timezone, local_date, record.as_of, run_input, offers, generation.OFFER_CHUNK
        )
        summary.update(
            eligible_users=int(run_input.population.subject.sum()),
            offers_selected=len(offers),
            duration_ms=int((time.perf_counter() - started) * 1000),
            peak_rss_mb=peak_rss_mb(),
        )
        with session_scope() as session:
            done = shard_store.complete_shard(session, timezone, local_date, shard, summary)
    if len(done) == len(cuts) + 1:
        summary["run"] = border_pass(timezone, local_date, cuts)
    return summary


def border_pass(timezone: str, local_date: date, cuts: list[float]) -> dict[str, Any]:
    """Pair people across bands with the quota the shards left them, write the run's
    notifications and complete the run; returns the run summary."""
    started = time.perf_counter()
    with session_scope() as session:
        record = store.get_run(session, timezone, local_date)
        assert record is not None
        read = store.read_run(
            session, timezone, local_date, record.as_of, NOBODY_BIT, border_region(cuts)
        )
        own = shard_store.own_offers(session, timezone, local_date)
    run_input = border_input(generation.arrays_input(read, local_date, record.as_of), cuts, own)
    del read
    offers = decide(run_input)
    written = generation.write_offers(
        timezone, local_date, record.as_of, run_input, offers, generation.OFFER_CHUNK
    )
    with session_scope() as session:
        counts = shard_store.run_offer_counts(session, timezone, local_date, record.as_of)
    notices = Notices(
        user_ids=counts["u"],
        offers=counts["n"],
        local_dates=PG_EPOCH + counts["d"].astype("timedelta64[D]"),
    )

    def write_notices(rows: slice) -> None:
        with session_scope() as session:
            store.insert_notifications(session, timezone, notices, rows)

    generation.in_parallel(write_notices, generation.chunks(len(notices), generation.OFFER_CHUNK))
    with session_scope() as session:
        summary = shard_store.run_summary(session, timezone, local_date)
        summary["duration_ms"] = int((time.perf_counter() - started) * 1000)
        summary["peak_rss_mb"] = peak_rss_mb()
        store.complete_run(session, timezone, local_date, summary)
    logger.info(
        "generate_daily %s %s: border pass wrote %d offers; run completed (%d offers)",
        timezone,
        local_date,
        written,
        summary["offers_selected"],
    )
    return {**summary, "border_people": len(run_input.population), "border_offers": len(offers)}
