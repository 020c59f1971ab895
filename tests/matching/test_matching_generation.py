"""Daily match generation and expiration against real PostgreSQL (``clean_db``).

The seeded population is built to tempt every hard rule: a one-way block, asymmetric gender
and age preferences, a pair offered 29 days ago and one offered 31 days ago, a pair matched
before, suspended / deleted / inactive / incomplete users, users who moved timezone, and a
neighbour-timezone candidate whose own day already has offers.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text

from yoked_actors import db
from yoked_actors.matching import expiration, generation
from yoked_actors.matching.run import OFFERS_PER_DAY
from yoked_actors.models.contract import Block, MatchOffer, Notification, User
from yoked_actors.models.matching import MatchingRun

TZ = "America/New_York"
DAY = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)  # 09:00 in New York
NYC = (40.75, -73.99)
YOKED = [sys.executable, "-m", "yoked_actors"]


def uid(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.matching.test")


def person(name: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": uid(name),
        "status": "active",
        "timezone": TZ,
        "birthdate": date(1994, 5, 1),
        "gender": "woman",
        "seeking_genders": [],
        "age_min": 18,
        "age_max": 99,
        "max_distance_km": 25.0,
        "lat": NYC[0],
        "lon": NYC[1],
        "level": 3,
        "goals": ["strength"],
        "availability": 0b1111,
        "last_active_at": NOW - timedelta(days=1),
    }
    row.update(fields)
    return row


def offer(
    a: str,
    b: str,
    local_date: date,
    *,
    timezone: str = TZ,
    status: str = "pending",
    created_at: datetime | None = None,
) -> dict[str, Any]:
    first, second = sorted((uid(a), uid(b)))
    created = created_at or datetime.combine(local_date, datetime.min.time(), UTC)
    return {
        "user_a_id": first,
        "user_b_id": second,
        "local_date": local_date,
        "timezone": timezone,
        "score": 0.5,
        "status": status,
        "created_at": created,
        "expires_at": created + timedelta(hours=24),
    }


# Main cluster: compatible people at the same spot, so quotas and greedy are exercised.
MAIN = [f"main{i}" for i in range(8)]
FAR = (35.68, 139.69)  # Tokyo: nowhere near New York


def seed() -> None:
    users = [person(name, gender="woman" if i % 2 else "man") for i, name in enumerate(MAIN)]
    users += [
        person("alice"),
        person("blocker"),
        # picky seeks women only; man2 seeks anyone: they fit one way only.
        person("picky", gender="man", seeking_genders=["woman"], lat=40.90),
        person("man2", gender="man", lat=40.90),
        # young accepts 20-35, old (60) accepts anyone: one way only.
        person("young", birthdate=date(2000, 1, 1), age_max=35, lat=41.10, max_distance_km=5),
        person("old", birthdate=date(1966, 1, 1), lat=41.10, max_distance_km=5),
        # Isolated pairs (about 50 km from anyone else, 10 km reach).
        person("p29a", lat=41.40, max_distance_km=10),
        person("p29b", lat=41.40, max_distance_km=10),
        person("p31a", lat=40.30, lon=-74.40, max_distance_km=10),
        person("p31b", lat=40.30, lon=-74.40, max_distance_km=10),
        person("wed_a", lat=40.55, lon=-74.60, max_distance_km=5),
        person("wed_b", lat=40.55, lon=-74.60, max_distance_km=5),
        # Not eligible, all in the main cluster.
        person("suspended", status="suspended"),
        person("deleted", deleted_at=NOW - timedelta(days=2)),
        person("inactive", last_active_at=NOW - timedelta(days=15)),
        person("incomplete", level=None),
        # Far-away partners of earlier offers.
        person("tokyo1", timezone="Asia/Tokyo", lat=FAR[0], lon=FAR[1]),
        person("tokyo2", timezone="Asia/Tokyo", lat=FAR[0], lon=FAR[1]),
        person("tokyo3", timezone="Asia/Tokyo", lat=FAR[0], lon=FAR[1]),
        # Moved from Tokyo: three offers already on 2026-11-30 there.
        person("mover_east"),
        # Moved from Honolulu: offers for 2026-11-29 created 19 hours ago.
        person("mover_west"),
        # Lives in Chicago's timezone near New York; two offers already on its 2026-11-30.
        person("chicago", timezone="America/Chicago"),
    ]
    offers = [
        offer("p29a", "p29b", DAY - timedelta(days=29), status="declined"),
        offer("p31a", "p31b", DAY - timedelta(days=31), status="declined"),
        offer("wed_a", "wed_b", DAY - timedelta(days=90), status="accepted"),
        *(offer("mover_east", f"tokyo{i}", DAY, timezone="Asia/Tokyo") for i in (1, 2, 3)),
        offer(
            "mover_west",
            "tokyo1",
            DAY - timedelta(days=1),
            timezone="Pacific/Honolulu",
            created_at=NOW - timedelta(hours=19),
        ),
        *(offer("chicago", f"tokyo{i}", DAY, timezone="America/Chicago") for i in (2, 3)),
    ]
    with db.session_scope() as session:
        session.execute(insert(User), users)
        session.execute(insert(Block), [{"blocker_id": uid("blocker"), "blocked_id": uid("alice")}])
        session.execute(insert(MatchOffer), offers)


def todays_offers() -> list[MatchOffer]:
    with db.session_scope() as session:
        return list(
            session.scalars(
                select(MatchOffer).where(MatchOffer.local_date == DAY, MatchOffer.timezone == TZ)
            )
        )


def pairs(offers: list[MatchOffer]) -> set[frozenset[uuid.UUID]]:
    return {frozenset((o.user_a_id, o.user_b_id)) for o in offers}


def pair(a: str, b: str) -> frozenset[uuid.UUID]:
    return frozenset((uid(a), uid(b)))


def age_on(birthdate: date, day: date) -> int:
    return day.year - birthdate.year - ((day.month, day.day) < (birthdate.month, birthdate.day))


def haversine_km(a: User, b: User) -> float:
    p1, p2 = math.radians(a.lat or 0), math.radians(b.lat or 0)
    dp, dl = p2 - p1, math.radians((b.lon or 0) - (a.lon or 0))
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def fits(a: User, b: User) -> bool:
    """Every hard preference, one way: does ``a`` accept ``b``?"""
    assert b.birthdate is not None
    return (
        (not a.seeking_genders or b.gender in a.seeking_genders)
        and a.age_min <= age_on(b.birthdate, DAY) <= a.age_max
        and haversine_km(a, b) <= a.max_distance_km + 1e-6
    )


def test_every_hard_rule_holds_on_a_tempting_population(clean_db: str) -> None:
    seed()
    summary = generation.generate(TZ, DAY, now=NOW)
    offers = todays_offers()
    assert summary["offers_written"] == summary["offers_selected"] == len(offers) > 0

    with db.session_scope() as session:
        users = {u.id: u for u in session.scalars(select(User))}
        all_today = list(session.scalars(select(MatchOffer).where(MatchOffer.local_date == DAY)))
    names = {uid(n): n for n in [u for u in _all_names()]}
    offered = pairs(offers)
    involved = {names[i] for p in offered for i in p}

    for o in offers:
        a, b = users[o.user_a_id], users[o.user_b_id]
        assert o.user_a_id < o.user_b_id and o.status == "pending"
        assert fits(a, b) and fits(b, a), (names[a.id], names[b.id])
        assert o.expires_at == NOW + timedelta(hours=24)
        assert set(o.reasons) >= {"schedule", "distance", "goals", "level", "gym", "distance_km"}
    assert not involved & {"suspended", "deleted", "inactive", "incomplete"}
    assert pair("blocker", "alice") not in offered  # blocked one way
    assert pair("picky", "man2") not in offered  # gender, one way
    assert pair("young", "old") not in offered  # age, one way
    assert pair("p29a", "p29b") not in offered  # offered 29 days ago
    assert pair("p31a", "p31b") in offered  # 31 days ago is allowed again
    assert pair("wed_a", "wed_b") not in offered  # matched before
    assert not involved & {"mover_east", "mover_west"}  # batch already today / 19 h ago
    # Each user's own local day holds at most 3 offers, whichever run wrote them.
    per_user = Counter(i for o in all_today for i in (o.user_a_id, o.user_b_id))
    assert max(per_user.values()) <= OFFERS_PER_DAY
    assert per_user[uid("chicago")] <= 3 and "chicago" in involved  # took its 1 remaining slot
    # The greedy leaves no fitting pair of two people who both still have room.
    open_pairs = [
        (x, y)
        for x in [*MAIN, "alice", "blocker", "picky", "man2", "chicago"]
        for y in [*MAIN, "alice", "blocker", "picky", "man2", "chicago"]
        if x < y
        and {x, y} != {"alice", "blocker"}
        and pair(x, y) not in offered
        and fits(users[uid(x)], users[uid(y)])
        and fits(users[uid(y)], users[uid(x)])
        and per_user[uid(x)] < 3
        and per_user[uid(y)] < 3
    ]
    assert open_pairs == []

    with db.session_scope() as session:
        notes = list(session.scalars(select(Notification)))
        run = session.get(MatchingRun, (TZ, DAY))
    assert {n.user_id for n in notes} == {i for p in offered for i in p}
    assert len(notes) == len({n.dedupe_key for n in notes})
    alice = next(n for n in notes if n.user_id == uid("main0"))
    assert (
        alice.kind == "daily_matches" and alice.dedupe_key == f"daily_matches:{uid('main0')}:{DAY}"
    )
    assert alice.payload["offers"] == 3
    ny_users = {i for i, u in users.items() if u.timezone == TZ}
    assert run is not None and run.status == "completed"
    assert run.offers_written == len(offers)
    assert (
        run.users_with_offers
        == summary["users_with_offers"]
        == len({i for p in offered for i in p} & ny_users)
    )
    # Eligible New Yorkers: all but the four ineligible ones.
    assert run.eligible_users == len(ny_users) - 4


def _all_names() -> list[str]:
    return [
        *MAIN,
        "alice",
        "blocker",
        "picky",
        "man2",
        "young",
        "old",
        "p29a",
        "p29b",
        "p31a",
        "p31b",
        "wed_a",
        "wed_b",
        "suspended",
        "deleted",
        "inactive",
        "incomplete",
        "tokyo1",
        "tokyo2",
        "tokyo3",
        "mover_east",
        "mover_west",
        "chicago",
    ]


def test_a_second_run_writes_nothing(clean_db: str) -> None:
    seed()
    first = generation.generate(TZ, DAY, now=NOW)
    again = generation.generate(TZ, DAY, now=NOW + timedelta(minutes=5))
    assert again["already_completed"] and again["offers_written"] == 0
    # Even without the completion record the computation finds everything already written.
    with db.session_scope() as session:
        session.execute(delete(MatchingRun))
        notifications = session.scalar(text("SELECT count(*) FROM notifications"))
    recomputed = generation.generate(TZ, DAY, now=NOW)
    assert recomputed["offers_selected"] == first["offers_selected"]
    assert recomputed["offers_written"] == 0
    with db.session_scope() as session:
        assert session.scalar(text("SELECT count(*) FROM notifications")) == notifications


def offer_rows() -> set[tuple[uuid.UUID, uuid.UUID, float, str]]:
    return {
        (o.user_a_id, o.user_b_id, o.score, json.dumps(o.reasons, sort_keys=True))
        for o in todays_offers()
    }


def test_a_run_killed_half_way_and_rerun_ends_with_the_same_offers(
    clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed()
    generation.generate(TZ, DAY, now=NOW, chunk_size=2)
    uninterrupted = offer_rows()
    with db.session_scope() as session:
        session.execute(
            delete(MatchOffer).where(MatchOffer.timezone == TZ, MatchOffer.local_date == DAY)
        )
        session.execute(delete(Notification))
        session.execute(delete(MatchingRun))

    real_write = generation.write_chunk
    calls = {"n": 0}

    def crash_after_two_chunks(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("worker killed")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(generation, "write_chunk", crash_after_two_chunks)
    with pytest.raises(RuntimeError):
        generation.generate(TZ, DAY, now=NOW, chunk_size=2)
    assert 4 <= len(offer_rows()) < len(uninterrupted)  # half way: some chunks of two
    monkeypatch.setattr(generation, "write_chunk", real_write)

    # The retry comes later; the run's clock is the first attempt's.
    resumed = generation.generate(TZ, DAY, now=NOW + timedelta(minutes=7), chunk_size=2)
    assert offer_rows() == uninterrupted
    assert 0 < resumed["offers_written"] <= len(uninterrupted) - 4
    with db.session_scope() as session:
        run = session.get(MatchingRun, (TZ, DAY))
    assert run is not None and run.attempts == 2 and run.offers_written == len(uninterrupted)


def test_expiration_touches_only_due_pending_offers(clean_db: str) -> None:
    with db.session_scope() as session:
        session.execute(insert(User), [person(f"x{i}") for i in range(8)])
    due = [offer("x0", f"x{i}", DAY, created_at=NOW - timedelta(hours=30)) for i in range(1, 6)]
    not_yet = offer("x1", "x2", DAY, created_at=NOW - timedelta(hours=2))
    answered = [
        offer("x1", "x3", DAY, status="accepted", created_at=NOW - timedelta(hours=30)),
        offer("x1", "x4", DAY, status="declined", created_at=NOW - timedelta(hours=30)),
    ]
    with db.session_scope() as session:
        session.execute(insert(MatchOffer), [*due, not_yet, *answered])

    result = expiration.expire_due(NOW, batch_size=2, time_budget_s=60)
    assert result == {"expired": 5, "batches": 3, "complete": True}
    with db.session_scope() as session:
        rows = {(o.user_a_id, o.user_b_id): o for o in session.scalars(select(MatchOffer))}
    for row in due:
        o = rows[(row["user_a_id"], row["user_b_id"])]
        assert o.status == "expired" and o.expired_at == NOW
    assert rows[(not_yet["user_a_id"], not_yet["user_b_id"])].status == "pending"
    assert {rows[(r["user_a_id"], r["user_b_id"])].status for r in answered} == {
        "accepted",
        "declined",
    }
    assert all(o.expired_at is None for o in rows.values() if o.status != "expired")
    assert expiration.expire_due(NOW, batch_size=2, time_budget_s=60)["expired"] == 0


def test_expiration_stops_when_its_time_budget_is_spent(clean_db: str) -> None:
    with db.session_scope() as session:
        session.execute(insert(User), [person(f"y{i}") for i in range(5)])
        session.execute(
            insert(MatchOffer),
            [offer("y0", f"y{i}", DAY, created_at=NOW - timedelta(hours=30)) for i in range(1, 5)],
        )
    first = expiration.expire_due(NOW, batch_size=1, time_budget_s=1e-9)
    assert first == {"expired": 1, "batches": 1, "complete": False}
    assert expiration.expire_due(NOW, batch_size=10, time_budget_s=60)["expired"] == 3


def test_yoked_run_generates_against_a_seeded_database(
    clean_db: str, service_env: dict[str, str]
) -> None:
    # `yoked run` uses the real clock: make everyone active now.
    seed()
    with db.session_scope() as session:
        session.execute(text("UPDATE users SET last_active_at = now()"))
    payload = json.dumps({"timezone": TZ, "local_date": DAY.isoformat()})
    result = subprocess.run(
        [*YOKED, "run", "matching.generate_daily", "--payload", payload],
        env=service_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["offers_written"] == len(todays_offers()) > 0
    assert summary["eligible_users"] > 0

    bad = subprocess.run(
        [
            *YOKED,
            "run",
            "matching.generate_daily",
            "--payload",
            json.dumps({"timezone": "Mars/Olympus", "local_date": "2026-11-30"}),
        ],
        env=service_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "timezone" in bad.stderr


def test_the_dispatchers_message_generates_the_day_through_a_real_worker(
    rabbitmq_broker: Any, worker: Any
) -> None:
    from yoked_actors.matching.dispatch import send_generation

    seed()
    send_generation(TZ, DAY)  # exactly what matching.dispatch_daily enqueues
    rabbitmq_broker.join("matching", timeout=60_000)
    worker.join()
    with db.session_scope() as session:
        run = session.get(MatchingRun, (TZ, DAY))
    assert run is not None and run.status == "completed"
    assert run.offers_written == len(todays_offers()) > 0
