"""The fault job's effects and what the scenarios read back: the effects table, the run
history, seeded chat messages, and the per-scenario :class:`Report` that checks them.

Also the names of the fault job and its queue, which the worker processes import too
(fault_actors.py), so this module stays light: psycopg, the standard library, the queue names.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from yoked_actors.queues import Queue

#: The job the worker processes run (fault_actors.py). The tests publish it as raw messages and
#: never declare it in their own process.
FAULT_JOB = "faults.effect"
FAULT_QUEUE = str(Queue.DEFAULT)


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# -- The effects table and the run history ---------------------------------------------------


def create_effects_table(database_url: str) -> None:
    with psycopg.connect(plain(database_url), autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS fault_effects")
        connection.execute(
            "CREATE TABLE fault_effects (key text PRIMARY KEY, applied int,"
            " worker text, applied_at timestamptz DEFAULT clock_timestamp())"
        )
        connection.execute("TRUNCATE job_runs, idempotency_keys")


def effects(database_url: str) -> dict[str, int]:
    try:
        with psycopg.connect(plain(database_url), connect_timeout=3) as connection:
            return dict(connection.execute("SELECT key, applied FROM fault_effects").fetchall())
    except psycopg.OperationalError:
        return {}


def applied_by(database_url: str, worker: str) -> list[float]:
    """Unix times at which the worker process started with ``FAULT_WORKER=worker`` applied
    effects."""
    with psycopg.connect(plain(database_url)) as connection:
        rows = connection.execute(
            "SELECT extract(epoch FROM applied_at)::float8 FROM fault_effects WHERE worker = %s",
            (worker,),
        ).fetchall()
    return [row[0] for row in rows]


def run_rows(database_url: str, where: str = "TRUE") -> list[dict[str, Any]]:
    with psycopg.connect(plain(database_url)) as connection:
        cursor = connection.execute(
            "SELECT message_id, actor, status, attempts, duration_ms, error_type, error_message "
            f"FROM job_runs WHERE {where}"
        )
        columns = [c.name for c in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def seed_chat(
    database_url: str, count: int, *, users: int = 200, flag_every: int = 0
) -> list[tuple[str, str, str]]:
    """``count`` chat messages stored as the API stores them, between ``users`` new users: rows
    of (id, content, sender id). Every ``flag_every``-th one (0: none) is one moderation flags."""
    rows = []
    with psycopg.connect(plain(database_url), autocommit=True) as connection:
        senders = [
            str(r[0])
            for r in connection.execute(
                "INSERT INTO users (id) SELECT gen_random_uuid() FROM generate_series(1, %s) "
                "RETURNING id",
                (users,),
            ).fetchall()
        ]
        with (
            connection.cursor() as cursor,
            cursor.copy("COPY messages (id, sender_id, recipient_id, content) FROM STDIN") as copy,
        ):
            for i in range(count):
                sender, recipient = senders[i % users], senders[(i + 1) % users]
                flagged = flag_every and i % flag_every == 0
                content = (
                    f"venmo me $50 at @gymbro{i} now"
                    if flagged
                    else f"see you at the gym at {i % 12 + 1}?"
                )
                message_id = str(uuid.uuid4())
                copy.write_row((message_id, sender, recipient, content))
                rows.append((message_id, content, sender))
    return rows


@dataclass
class Report:
    """What the lead reports per scenario."""

    scenario: str
    sent: int = 0
    effects: int = 0
    duplicates: int = 0
    recovery_s: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def check(self, database_url: str, accepted: set[str]) -> None:
        found = effects(database_url)
        self.sent = len(accepted)
        self.effects = sum(1 for key in accepted if key in found)
        self.duplicates = sum(applied - 1 for applied in found.values())
        print(
            f"\nFAULTS {self.scenario}: sent={self.sent} effects_present={self.effects} "
            f"duplicates={self.duplicates} recovery_s={self.recovery_s:.1f} "
            f"{json.dumps(self.notes, default=str)}"
        )
        assert self.effects == self.sent, f"{self.sent - self.effects} effects missing"
        assert self.duplicates == 0
        assert set(found) <= accepted
