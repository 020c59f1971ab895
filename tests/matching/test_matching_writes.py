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
from datetime import timedelta

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
from yoked_actors import db
from yoked_actors.matching import expiration, generation
from yoked_actors.models.contract import MatchOffer, User
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
