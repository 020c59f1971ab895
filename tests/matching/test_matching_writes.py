"""Offer writes and expiration against what other transactions did, on the real PostgreSQL
(``clean_db``).

Offers are inserted without ON CONFLICT first; a chunk holding a pair another worker already
wrote must still end with exactly one copy of every offer. Expiration updates rows without
locking them first; it must still never wait on a row an API write holds (the batch is redone
skipping locked rows), and a lock that does not conflict with an update of the status (a
foreign-key check from a new message takes ``FOR KEY SHARE``) must not keep an offer pending.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, insert, select, text

from tests.matching.test_matching_generation import (
    DAY,
    NOW,
    TZ,
    offer,
    offer_rows,
    person,
    seed,
    todays_offers,
    uid,
)
from yoked_actors import db, sql
from yoked_actors.matching import expiration, generation
from yoked_actors.matching.scoring import SCORE_VERSION
from yoked_actors.matching.store.reasons import PART_NAMES, reasons_jsonb
from yoked_actors.models.contract import MatchOffer, Notification, User
from yoked_actors.models.matching import MatchingRun


def test_a_chunk_with_some_pairs_already_written_ends_with_one_copy_of_each(
    clean_db: str,
) -> None:
    seed()
    generation.generate(TZ, DAY, now=NOW)
    expected = offer_rows()
    assert len(expected) >= 4
    # What a second worker racing this run leaves: every other offer of the day, no record.
    with db.session_scope() as session:
        offers = sorted(todays_offers(), key=lambda o: (o.user_a_id, o.user_b_id))
        session.execute(delete(MatchOffer).where(MatchOffer.id.in_([o.id for o in offers[::2]])))
        session.execute(delete(MatchingRun))
    again = generation.generate(TZ, DAY, now=NOW, chunk_size=1_000)
    assert offer_rows() == expected
    assert again["offers_written"] == len(offers[::2])


def notes_by_user() -> dict[uuid.UUID, list[dict[str, Any]]]:
    by_user: dict[uuid.UUID, list[dict[str, Any]]] = {}
    with db.session_scope() as session:
        for note in session.scalars(select(Notification)):
            by_user.setdefault(note.user_id, []).append(note.payload)
    return by_user


def test_notifications_already_there_are_kept_and_every_other_one_is_written(
    clean_db: str,
) -> None:
    seed()
    # chicago had offers on its own date from Chicago's run, which notified it; main0 has a
    # notification no other run's offer explains (a concurrent attempt of this run): its chunk
    # is written without ON CONFLICT first, fails on the key and is written again skipping it.
    earlier = {"chicago": {"offers": 2, "by": "chicago run"}, "main0": {"offers": 9, "by": "race"}}
    with db.session_scope() as session:
        session.execute(
            insert(Notification),
            [
                {
                    "user_id": uid(name),
                    "kind": "daily_matches",
                    "payload": payload,
                    "dedupe_key": f"daily_matches:{uid(name)}:{DAY}",
                }
                for name, payload in earlier.items()
            ],
        )
    generation.generate(TZ, DAY, now=NOW, chunk_size=2)
    offered = {i for o in todays_offers() for i in (o.user_a_id, o.user_b_id)}
    notes = notes_by_user()
    assert {uid("chicago"), uid("main0")} <= offered
    assert set(notes) == offered
    assert all(len(payloads) == 1 for payloads in notes.values())
    assert notes[uid("chicago")] == [earlier["chicago"]]
    assert notes[uid("main0")] == [earlier["main0"]]
    per_user = Counter(i for o in todays_offers() for i in (o.user_a_id, o.user_b_id))
    assert all(
        payloads[0]["offers"] == per_user[user]
        for user, payloads in notes.items()
        if user not in {uid("chicago"), uid("main0")}
    )


def test_reasons_built_by_numpy_are_the_jsonb_the_database_builds(clean_db: str) -> None:
    """Random values and the edges of the decimal text (whole numbers, halves, trailing zeros)
    give, byte for byte, what jsonb_build_object of the rounded float8 values stores."""
    rng = np.random.default_rng(3)
    edges = [0, 1, 0.5, 0.0005, 0.0004999, 0.9995, 0.1, 0.125, 0.2, 0.05]
    km = np.concatenate((rng.random(5_000) * 200, [0, 0.005, 0.004999, 10, 199.995, 2.675]))
    n = len(km)
    parts = {
        name: np.concatenate((rng.random(n - len(edges)), edges))
        for name in ("schedule", "distance", "goals", "level")
    }
    parts["gym"] = (rng.random(n) < 0.5).astype(np.float64)
    rounded = [np.round(km, 2), *(np.round(parts[name], 3) for name in PART_NAMES), parts["gym"]]
    columns = ("km", "sc", "di", "go", "le", "gy", "r")
    with db.session_scope() as session, sql.driver_cursor(session, named_rows=False) as cursor:
        cursor.execute(
            "CREATE TEMP TABLE built (km float8, sc float8, di float8, go float8, le float8,"
            " gy float8, r jsonb)"
        )
        sql.copy_arrays(cursor, "built", columns, [*rounded, reasons_jsonb(km, parts)])
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE r::text = jsonb_build_object('version',"
            f" {SCORE_VERSION}, 'distance_km', km, 'schedule', sc, 'distance', di, 'goals', go,"
            " 'level', le, 'gym', gy = 1)::text) FROM built"
        )
        assert cursor.fetchone() == (n, n)


def seed_due(prefix: str, count: int) -> None:
    with db.session_scope() as session:
        session.execute(insert(User), [person(f"{prefix}{i}") for i in range(count + 1)])
        session.execute(
            insert(MatchOffer),
            [
                offer(f"{prefix}0", f"{prefix}{i}", DAY, created_at=NOW - timedelta(hours=30))
                for i in range(1, count + 1)
            ],
        )


def statuses(prefix: str, count: int) -> dict[int, str]:
    with db.session_scope() as session:
        rows = session.execute(
            select(MatchOffer.user_a_id, MatchOffer.user_b_id, MatchOffer.status)
        )
        by_pair = {frozenset((a, b)): status for a, b, status in rows}
    return {
        i: by_pair[frozenset((uid(f"{prefix}0"), uid(f"{prefix}{i}")))] for i in range(1, count + 1)
    }


def test_expiration_skips_a_row_another_transaction_holds(clean_db: str) -> None:
    seed_due("h", 4)
    held = uid("h2")
    with db.get_engine().connect() as other:
        other.execute(
            text("SELECT id FROM match_offers WHERE :b IN (user_a_id, user_b_id) FOR UPDATE"),
            {"b": held},
        )
        started = time.monotonic()
        result = expiration.expire_due(NOW, batch_size=10, time_budget_s=60)
        took = time.monotonic() - started
        assert statuses("h", 4) == {1: "expired", 2: "pending", 3: "expired", 4: "expired"}
        other.rollback()
    assert result == {"expired": 3, "batches": 1, "complete": True}
    assert took < 10  # skipped after a short wait, not held until the other transaction ends
    assert expiration.expire_due(NOW, batch_size=10, time_budget_s=60)["expired"] == 1
    assert set(statuses("h", 4).values()) == {"expired"}


def test_expiration_is_not_stopped_by_a_key_share_lock(clean_db: str) -> None:
    seed_due("k", 3)
    with db.get_engine().connect() as other:
        # What inserting a message about the offer takes on it (its foreign-key check).
        other.execute(
            text("SELECT id FROM match_offers WHERE :b IN (user_a_id, user_b_id) FOR KEY SHARE"),
            {"b": uid("k1")},
        )
        result = expiration.expire_due(NOW, batch_size=2, time_budget_s=60)
        other.rollback()
    assert result == {"expired": 3, "batches": 2, "complete": True}
    assert set(statuses("k", 3).values()) == {"expired"}
