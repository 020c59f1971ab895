"""A hand-built data set around one metric day, with the figures a person would count by hand.

Rows sit on both sides of the day's UTC midnights (00:00:00 and 23:59:59.999999) so that an
off-by-one range shows up as a wrong count.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text

from yoked_actors.db import session_scope

DAY = date(2026, 3, 10)
START = datetime(2026, 3, 10, tzinfo=UTC)
LAST_INSTANT = START + timedelta(days=1, microseconds=-1)  # 23:59:59.999999
NEXT = START + timedelta(days=1)


def at(days: int, hours: int = 0) -> datetime:
    return START + timedelta(days=days, hours=hours)


def uid(n: int) -> uuid.UUID:
    """Users numbered so that uid(a) < uid(b) when a < b (offers need user_a_id < user_b_id)."""
    return uuid.UUID(int=n)


def insert(table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    sql = text(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"
    )
    with session_scope() as session:
        session.execute(sql, rows)


# The users: name -> (number, created_at, extra columns)
USERS: dict[str, tuple[int, datetime, dict[str, Any]]] = {
    "signup_first": (1, START, {"status": "suspended", "suspended_at": NEXT}),
    "signup_last": (2, LAST_INSTANT, {}),
    "signup_next_day": (3, NEXT, {}),
    "d1_last": (4, START - timedelta(microseconds=1), {}),
    "d1_first": (5, at(-1), {}),
    "d7_first": (6, at(-7), {}),
    "d7_noon": (7, at(-7, 12), {}),
    "d7_last": (8, at(-6) - timedelta(microseconds=1), {}),
    "d6_first": (9, at(-6), {}),
    "old": (10, at(-60), {"status": "suspended", "suspended_at": START}),
    "old2": (11, at(-60), {}),
}


def u(name: str) -> uuid.UUID:
    return uid(USERS[name][0])


def seed() -> None:
    """Insert the data set (see EXPECTED for what it must give on DAY)."""
    users = []
    for number, created, extra in USERS.values():
        row = {"id": uid(number), "created_at": created, "status": "active", "suspended_at": None}
        row.update(extra)
        users.append(row)
    insert("users", users)

    activity = {
        0: ["d1_last", "d7_first", "d6_first", "signup_first"],  # DAU 4
        -6: ["d7_noon"],  # in WAU
        -7: ["d7_last"],  # in MAU, not WAU
        -29: ["old"],  # first day of the MAU window
        -30: ["old2"],  # just outside it
        1: ["signup_next_day", "d1_first"],  # the next day: nowhere
        -1: ["d1_first"],
    }
    insert(
        "user_activity_days",
        [
            {"user_id": u(n), "day": DAY + timedelta(days=d)}
            for d, names in activity.items()
            for n in names
        ],
    )

    def offer(
        oid: int,
        a: str,
        b: str,
        created: datetime,
        tz: str,
        status: str,
        a_resp: str | None,
        b_resp: str | None,
    ) -> dict[str, Any]:
        return {
            "id": oid,
            "user_a_id": u(a),
            "user_b_id": u(b),
            "local_date": created.date(),
            "timezone": tz,
            "score": 0.5,
            "status": status,
            "a_response": a_resp,
            "b_response": b_resp,
            "created_at": created,
            "expires_at": created + timedelta(days=1),
        }

    paris, ny = "Europe/Paris", "America/New_York"
    insert(
        "match_offers",
        [
            offer(1, "signup_first", "signup_last", at(0, 9), paris, "pending", "accepted", None),
            offer(
                2, "signup_first", "d1_last", at(0, 9), paris, "accepted", "accepted", "accepted"
            ),
            offer(3, "signup_first", "d1_first", at(0, 3), ny, "declined", "declined", None),
            offer(4, "signup_first", "d7_first", LAST_INSTANT, ny, "expired", None, None),
            offer(5, "signup_first", "old", START, paris, "declined", "declined", "accepted"),
            offer(6, "signup_first", "old2", NEXT, paris, "pending", "accepted", "accepted"),
            offer(
                7,
                "signup_last",
                "old",
                START - timedelta(microseconds=1),
                ny,
                "accepted",
                "accepted",
                "accepted",
            ),
        ],
    )

    def message(offer_id: int | None, created: datetime, status: str) -> dict[str, Any]:
        return {
            "id": uuid.uuid4(),
            "match_offer_id": offer_id,
            "sender_id": u("signup_first"),
            "recipient_id": u("old"),
            "content": "hi",
            "created_at": created,
            "moderation_status": status,
        }

    insert(
        "messages",
        [
            message(7, START - timedelta(microseconds=1), "clean"),  # offer 7 began the day before
            message(7, START, "clean"),
            message(1, at(0, 10), "flagged"),  # offer 1 starts today...
            message(1, at(0, 11), "clean"),  # ...once
            message(2, LAST_INSTANT, "hidden"),  # offer 2 starts today
            message(3, NEXT, "pending"),  # tomorrow
            message(None, at(0, 12), "pending"),
        ],
    )

    def notification(
        kind: str, status: str, sent: datetime | None, dropped: datetime | None
    ) -> dict[str, Any]:
        return {
            "user_id": u("old"),
            "kind": kind,
            "status": status,
            "sent_at": sent,
            "dropped_at": dropped,
            "created_at": at(-1),
        }

    insert(
        "notifications",
        [
            notification("new_message", "sent", START, None),
            notification("new_message", "sent", LAST_INSTANT, None),
            notification("daily_matches", "sent", NEXT, None),
            notification("daily_matches", "dropped", None, at(0, 8)),
            notification("safety", "dropped", None, START - timedelta(microseconds=1)),
        ],
    )
    insert(
        "push_tokens",
        [
            {
                "user_id": u("old"),
                "token": "t1",
                "platform": "ios",
                "active": False,
                "deactivated_at": LAST_INSTANT,
            },
            {
                "user_id": u("old"),
                "token": "t2",
                "platform": "ios",
                "active": False,
                "deactivated_at": START - timedelta(microseconds=1),
            },
            {
                "user_id": u("old"),
                "token": "t3",
                "platform": "ios",
                "active": True,
                "deactivated_at": None,
            },
        ],
    )


#: (metric, dimension) -> (value, numerator, denominator) on DAY.
EXPECTED: dict[tuple[str, str], tuple[float | None, int | None, int | None]] = {
    ("dau", ""): (4, None, None),
    ("wau", ""): (6, None, None),  # + d7_noon (day-6), d1_first (day-1)
    ("mau", ""): (8, None, None),  # + d7_last (day-7), old (day-29); not old2 (day-30)
    ("signups", ""): (2, None, None),
    ("retention_d1", ""): (0.5, 1, 2),
    ("retention_d7", ""): (1 / 3, 1, 3),
    ("offers_generated", ""): (5, None, None),
    ("offers_accepted_one_side", ""): (2, None, None),
    ("offers_mutual", ""): (1, None, None),
    ("offers_declined", ""): (2, None, None),
    ("offers_expired", ""): (1, None, None),
    ("acceptance_rate", ""): (0.6, 3, 5),
    ("mutual_rate", ""): (0.2, 1, 5),
    ("offers_generated", "timezone=Europe/Paris"): (3, None, None),
    ("offers_accepted_one_side", "timezone=Europe/Paris"): (2, None, None),
    ("offers_mutual", "timezone=Europe/Paris"): (1, None, None),
    ("offers_declined", "timezone=Europe/Paris"): (1, None, None),
    ("offers_expired", "timezone=Europe/Paris"): (0, None, None),
    ("acceptance_rate", "timezone=Europe/Paris"): (1.0, 3, 3),
    ("mutual_rate", "timezone=Europe/Paris"): (1 / 3, 1, 3),
    ("offers_generated", "timezone=America/New_York"): (2, None, None),
    ("offers_accepted_one_side", "timezone=America/New_York"): (0, None, None),
    ("offers_mutual", "timezone=America/New_York"): (0, None, None),
    ("offers_declined", "timezone=America/New_York"): (1, None, None),
    ("offers_expired", "timezone=America/New_York"): (1, None, None),
    ("acceptance_rate", "timezone=America/New_York"): (0.0, 0, 2),
    ("mutual_rate", "timezone=America/New_York"): (0.0, 0, 2),
    ("messages_sent", ""): (5, None, None),
    ("messages_flagged", ""): (1, None, None),
    ("messages_hidden", ""): (1, None, None),
    ("conversations_started", ""): (2, None, None),
    ("flagged_rate", ""): (0.4, 2, 5),
    ("notifications_sent", ""): (2, None, None),
    ("notifications_failed", ""): (1, None, None),
    ("delivery_rate", ""): (2 / 3, 2, 3),
    ("notifications_sent", "kind=new_message"): (2, None, None),
    ("notifications_failed", "kind=new_message"): (0, None, None),
    ("delivery_rate", "kind=new_message"): (1.0, 2, 2),
    ("notifications_sent", "kind=daily_matches"): (0, None, None),
    ("notifications_failed", "kind=daily_matches"): (1, None, None),
    ("delivery_rate", "kind=daily_matches"): (0.0, 0, 1),
    ("suspensions", ""): (1, None, None),
    ("tokens_deactivated", ""): (1, None, None),
}


def stored(day: date | None = None, *, with_time: bool = False) -> dict[tuple[Any, ...], Any]:
    """daily_metrics as {(date, metric, dimension): (value, numerator, denominator[, at])}."""
    sql = (
        "SELECT metric_date, metric, dimension, value, numerator, denominator, computed_at "
        "FROM daily_metrics" + (" WHERE metric_date = :day" if day else "")
    )
    with session_scope() as session:
        rows = session.execute(text(sql), {"day": day}).all()
    return {
        (r.metric_date, r.metric, r.dimension): (r.value, r.numerator, r.denominator)
        + ((r.computed_at,) if with_time else ())
        for r in rows
    }
