"""A small, deterministic demo population for `yoked dev --seed` and manual testing.

Users in five cities (including +05:30 and +05:45 offsets), some blocks, chat messages, pending
notifications and push tokens. Seeding twice adds nothing: users are created only in an empty
database.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from yoked_actors.clock import Clock, utc_now
from yoked_actors.db import Base, session_scope
from yoked_actors.models.contract import (
    GOALS,
    Block,
    Message,
    Notification,
    PushToken,
    User,
    UserActivityDay,
)

#: (timezone, latitude, longitude) of each demo city.
CITIES = (
    ("America/New_York", 40.73, -73.99),
    ("Europe/London", 51.51, -0.13),
    ("Australia/Sydney", -33.87, 151.21),
    ("Asia/Kolkata", 19.08, 72.88),
    ("Asia/Kathmandu", 27.72, 85.32),
)
USERS_PER_CITY = 40
#: The seeded chat, sent round-robin from users of every city. Moderation judges them clean,
#: flagged (a phone number, a payment request: a strike each) and hidden (a threat: a strike
#: and an immediate suspension).
CHAT_LINES = (
    "Leg day tomorrow at 7?",
    "I can spot you on bench, squat 315 then 405",
    "Great session today!",
    "text me at 555 013 2047 instead",
    "Want to try the 6am spin class?",
    "send me $50 on cashapp first",
    "Same gym, same time next week?",
    "skip leg day again and I will kill you",
    "Nice PR on deadlift!",
    "Bring chalk, mine ran out",
)
CHAT_MESSAGES = 20


def seed_demo(users_per_city: int = USERS_PER_CITY, seed: int = 42, clock: Clock = utc_now) -> str:
    """Insert the demo population unless users exist; returns a one-line summary."""
    rng = random.Random(seed)
    now = clock()
    with session_scope() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return "skipped (users exist)"
        users = demo_users(rng, users_per_city, now)
        session.execute(insert(User), users)
        for table, rows in demo_rows(rng, [u["id"] for u in users], now):
            session.execute(insert(table), rows)
    return (
        f"{len(users)} users in {len(CITIES)} timezones, {CHAT_MESSAGES} chat messages, "
        f"{CHAT_MESSAGES} notifications"
    )


def demo_users(rng: random.Random, users_per_city: int, now: datetime) -> list[dict[str, Any]]:
    """``users_per_city`` users around each of :data:`CITIES`, drawn from ``rng``."""
    users = []
    for tz, lat, lon in CITIES:
        for _ in range(users_per_city):
            gender = rng.choice(("woman", "man", "nonbinary"))
            users.append(
                {
                    "id": uuid.UUID(int=rng.getrandbits(128)),
                    "timezone": tz,
                    "birthdate": date(rng.randint(1970, 2005), rng.randint(1, 12), 1),
                    "gender": gender,
                    "seeking_genders": rng.choice(([], [], [gender], ["woman", "man"])),
                    "age_min": 18,
                    "age_max": rng.choice((35, 45, 99)),
                    "max_distance_km": rng.choice((5.0, 10.0, 25.0)),
                    "lat": lat + rng.gauss(0, 0.05),
                    "lon": lon + rng.gauss(0, 0.05),
                    "gym_id": rng.randint(1, 8),
                    "level": rng.randint(1, 5),
                    "goals": rng.sample(GOALS, rng.randint(1, 3)),
                    "availability": rng.getrandbits(28),
                    "last_active_at": now - timedelta(hours=rng.randint(1, 24 * 10)),
                }
            )
    return users


def demo_rows(
    rng: random.Random, ids: list[uuid.UUID], now: datetime
) -> list[tuple[type[Base], list[dict[str, Any]]]]:
    """The rows around the users ``ids``, table by table: activity days, blocks, chat messages,
    pending notifications, push tokens."""
    activity = [
        {"user_id": uid, "day": (now - timedelta(days=d)).date()}
        for uid in ids
        for d in range(rng.randint(0, 3))
    ] or [{"user_id": ids[0], "day": now.date()}]
    blocks = [{"blocker_id": ids[i], "blocked_id": ids[i + 1]} for i in range(0, len(ids) - 1, 17)]
    # Senders spread over every city (users are grouped by city), each writing to a neighbour.
    pairs = [
        (ids[k], ids[k + 1])
        for k in (i * (len(ids) // CHAT_MESSAGES) % (len(ids) - 1) for i in range(CHAT_MESSAGES))
    ]
    messages = [
        {"sender_id": sender, "recipient_id": recipient, "content": CHAT_LINES[i % len(CHAT_LINES)]}
        for i, (sender, recipient) in enumerate(pairs)
    ]
    notifications = [
        {"user_id": recipient, "kind": "new_message", "payload": {"from": str(sender)}}
        for sender, recipient in pairs
    ]
    tokens = [
        {"user_id": uid, "token": f"ExponentPushToken[demo-{n}]", "platform": "ios"}
        for n, uid in enumerate(ids[::2])
    ]
    return [
        (UserActivityDay, activity),
        (Block, blocks),
        (Message, messages),
        (Notification, notifications),
        (PushToken, tokens),
    ]
