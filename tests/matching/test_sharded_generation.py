"""Sharded runs against real PostgreSQL: a timezone split at a longitude into bands, each band
its own shard, the last one completing the day with the border pass (docs/matching.md)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date
from typing import Any

import pytest
from sqlalchemy import delete, insert, select

from tests.matching.test_matching_generation import (
    DAY,
    NOW,
    TZ,
    fits,
    offer,
    person,
    seed,
    todays_offers,
    uid,
)
from yoked_actors import db
from yoked_actors.matching import generation, sharding
from yoked_actors.matching.run import OFFERS_PER_DAY
from yoked_actors.models.contract import MatchOffer, Notification, User
from yoked_actors.models.matching import MatchingRun, MatchingShard

# A street of people across Manhattan, west to east, about 170 m apart: the run's cut falls in
# the middle of it, so half of them have their best partners on the other side.
STREET = [f"street{i:02d}" for i in range(24)]


def seed_street() -> None:
    seed()
    people = [
        person(
            name,
            lat=40.75,
            lon=-74.00 + 0.002 * i,
            gender="woman" if i % 3 else "man",
            availability=0b1111 if i < 12 else 0b11110000,
            goals=["strength"] if i % 2 else ["cardio"],
        )
        for i, name in enumerate(STREET)
    ]
    with db.session_scope() as session:
        session.execute(insert(User), people)
        # Two street neighbours across the cut were offered to each other last week.
        session.execute(insert(MatchOffer), [offer("street11", "street12", date(2026, 11, 23))])


def plan(shards: int = 2) -> list[int]:
    """Run the day's planner with ``shards`` forced; returns the shards it sent."""
    sent: list[int] = []
    summary = generation.generate(
        TZ,
        DAY,
        now=NOW,
        plan=sharding.planner(TZ, DAY, 700, lambda _tz, _day, s: sent.append(s), shards=shards),
    )
    assert summary["sharded"] and summary["shards"] == shards
    return sent


def offer_set() -> set[tuple[uuid.UUID, uuid.UUID, float]]:
    return {(o.user_a_id, o.user_b_id, o.score) for o in todays_offers()}


def notification_set() -> set[tuple[str, int]]:
    with db.session_scope() as session:
        return {(n.dedupe_key, n.payload["offers"]) for n in session.scalars(select(Notification))}


def reset_day() -> None:
    with db.session_scope() as session:
        session.execute(
            delete(MatchOffer).where(MatchOffer.timezone == TZ, MatchOffer.local_date == DAY)
        )
        session.execute(delete(Notification))
        session.execute(delete(MatchingRun))


def test_border_users_keep_every_rule_and_their_quota_of_three(clean_db: str) -> None:
    seed_street()
    assert plan() == [0, 1]
    with db.session_scope() as session:
        cut = session.get(MatchingRun, (TZ, DAY))
    assert cut is not None and cut.status == "running" and cut.shard_cuts
    (lon_cut,) = cut.shard_cuts
    first = sharding.generate_shard(TZ, DAY, 0)
    assert "run" not in first  # one band done: the day is not
    last = sharding.generate_shard(TZ, DAY, 1)
    assert last["run"]["offers_selected"] == len(todays_offers())

    with db.session_scope() as session:
        users = {u.id: u for u in session.scalars(select(User))}
        all_today = list(session.scalars(select(MatchOffer).where(MatchOffer.local_date == DAY)))
        run = session.get(MatchingRun, (TZ, DAY))
        notes = list(session.scalars(select(Notification)))
    offers = todays_offers()
    per_user = Counter(i for o in all_today for i in (o.user_a_id, o.user_b_id))
    assert max(per_user.values()) <= OFFERS_PER_DAY
    for o in offers:
        a, b = users[o.user_a_id], users[o.user_b_id]
        assert fits(a, b) and fits(b, a)
    offered = {frozenset((o.user_a_id, o.user_b_id)) for o in offers}
    across = [p for p in offered if len({(users[i].lon or 0) < lon_cut for i in p}) == 2]
    assert across, "border users were paired across the cut"
    assert frozenset((uid("street11"), uid("street12"))) not in offered  # offered last week
    assert frozenset((uid("blocker"), uid("alice"))) not in offered
    # No fitting pair of two street people who both still have room is left.
    street = [users[uid(n)] for n in STREET]
    for x in street:
        for y in street:
            if (
                x.id < y.id
                and frozenset((x.id, y.id)) not in offered
                and {x.id, y.id} != {uid("street11"), uid("street12")}
                and fits(x, y)
                and fits(y, x)
            ):
                assert per_user[x.id] == 3 or per_user[y.id] == 3
    # One notification per user offered, counting both bands' offers; the day recorded once.
    in_run = Counter(i for o in offers for i in (o.user_a_id, o.user_b_id))
    assert {(n.user_id, n.payload["offers"]) for n in notes} == set(in_run.items())
    assert len(notes) == len({n.dedupe_key for n in notes})
    assert run is not None and run.status == "completed" and run.attempts == 1
    assert run.offers_selected == len(offers) and run.offers_written == len(offers)
    assert run.peak_rss_mb is not None and run.peak_rss_mb > 0
    # A second planner run, or a redelivered shard, writes nothing.
    again = generation.generate(TZ, DAY, now=NOW, plan=sharding.planner(TZ, DAY, 700, print))
    assert again["already_completed"] and again["offers_written"] == 0
    assert sharding.generate_shard(TZ, DAY, 0)["already_completed"]


def test_shards_in_either_order_or_crashed_and_retried_end_with_the_same_offers(
    clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_street()
    assert plan() == [0, 1]
    sharding.generate_shard(TZ, DAY, 0)
    sharding.generate_shard(TZ, DAY, 1)
    in_order, notes_in_order = offer_set(), notification_set()
    assert in_order and notes_in_order

    # The other order, and the first shard's worker dies after two chunks of two offers.
    reset_day()
    assert plan() == [0, 1]
    monkeypatch.setattr(generation, "OFFER_CHUNK", 2)
    real_write = generation.write_chunk
    calls = {"n": 0}

    def crash_after_two_chunks(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("worker killed")
        return real_write(*args, **kwargs)

    sharding.generate_shard(TZ, DAY, 1)
    monkeypatch.setattr(generation, "write_chunk", crash_after_two_chunks)
    with pytest.raises(RuntimeError):
        sharding.generate_shard(TZ, DAY, 0)
    monkeypatch.setattr(generation, "write_chunk", real_write)
    partial = offer_set()
    assert partial < in_order
    with db.session_scope() as session:
        run = session.get(MatchingRun, (TZ, DAY))
        assert run is not None and run.status == "running"
    # A planner rerun now resends only the unfinished shard; its retry completes the day.
    assert plan() == [0]
    retried = sharding.generate_shard(TZ, DAY, 0)
    assert retried["run"]["offers_selected"] == len(in_order)
    assert offer_set() == in_order
    assert notification_set() == notes_in_order
    with db.session_scope() as session:
        shards = list(session.scalars(select(MatchingShard).order_by(MatchingShard.shard)))
    assert [(s.shard, s.status, s.attempts) for s in shards] == [
        (0, "completed", 2),
        (1, "completed", 1),
    ]


def test_a_crash_in_the_border_pass_is_finished_by_the_retry(
    clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_street()
    plan()
    sharding.generate_shard(TZ, DAY, 0)
    sharding.generate_shard(TZ, DAY, 1)
    expected = offer_set()
    reset_day()
    plan()
    sharding.generate_shard(TZ, DAY, 0)

    def killed(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("worker killed")

    monkeypatch.setattr(sharding.store, "insert_notifications", killed)
    with pytest.raises(RuntimeError):
        sharding.generate_shard(TZ, DAY, 1)
    monkeypatch.undo()
    # The shard's message is redelivered: the shard is done, the border pass runs again.
    retried = sharding.generate_shard(TZ, DAY, 1)
    assert retried["offers_written"] == 0 and retried["run"]["offers_selected"] == len(expected)
    assert offer_set() == expected


def test_a_run_that_fits_its_budget_is_not_sharded(clean_db: str) -> None:
    seed()
    sent: list[int] = []
    summary = generation.generate(
        TZ, DAY, now=NOW, plan=sharding.planner(TZ, DAY, 700, lambda *a: sent.append(a[2]))
    )
    assert sent == [] and summary["offers_written"] > 0 and "sharded" not in summary
    with pytest.raises(ValueError, match="not a sharded run"):
        sharding.generate_shard(TZ, DAY, 0)
