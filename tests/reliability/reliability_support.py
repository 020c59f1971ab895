"""Test jobs and helpers of the reliability tests: a job whose effect is a row keyed by the
job's key, written with claim_once so that a second application would show as applied > 1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from dramatiq.middleware import CurrentMessage
from pydantic import BaseModel, ConfigDict
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from yoked_actors import db
from yoked_actors.db import session_scope
from yoked_actors.errors import NotFoundError
from yoked_actors.jobs import JOBS, job
from yoked_actors.middleware.idempotency import claim_once
from yoked_actors.queues import Queue
from yoked_actors.runs.recorder import RECORDER

EFFECT_JOB = "test.reliability_effect"
EFFECTS_TABLE = "reliability_effects"


class EffectPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str
    fail: Literal["no", "permanent", "transient_once"] = "no"


def create_effects_table() -> None:
    """The effects table, empty; and the run history, without late events of earlier tests."""
    RECORDER.flush()
    with db.get_engine().begin() as connection:
        connection.execute(text("TRUNCATE job_runs, idempotency_keys, outbox"))
        connection.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {EFFECTS_TABLE} "
                "(key text PRIMARY KEY, applied int NOT NULL)"
            )
        )
        connection.execute(text(f"TRUNCATE {EFFECTS_TABLE}"))


def effects() -> dict[str, int]:
    with db.get_engine().connect() as connection:
        return dict(connection.execute(text(f"SELECT key, applied FROM {EFFECTS_TABLE}")).all())


@contextmanager
def effect_job() -> Iterator[Any]:
    """Declare the test job on the current broker; removed afterwards."""

    @job(
        EFFECT_JOB,
        queue=Queue.DEFAULT,
        payload=EffectPayload,
        max_retries=2,
        min_backoff=50,
        max_backoff=100,
        transient_min_backoff=50,
        transient_max_backoff=100,
        time_limit=10_000,
    )
    def effect(payload: EffectPayload) -> dict[str, int]:
        message = CurrentMessage.get_current_message()
        attempt = (message.options.get("retries", 0) if message else 0) + 1
        if payload.fail == "permanent":
            raise NotFoundError(f"thing {payload.key} does not exist")
        if payload.fail == "transient_once" and attempt == 1:
            raise sa_exc.OperationalError(
                "SELECT 1", {}, ConnectionError("server closed the connection unexpectedly")
            )
        with session_scope() as session:
            if not claim_once(session):
                return {"applied": 0}
            session.execute(
                text(
                    f"INSERT INTO {EFFECTS_TABLE} (key, applied) VALUES (:key, 1) "
                    f"ON CONFLICT (key) DO UPDATE SET applied = {EFFECTS_TABLE}.applied + 1"
                ),
                {"key": payload.key},
            )
        return {"applied": 1}

    try:
        yield effect
    finally:
        JOBS.pop(EFFECT_JOB, None)


def runs_by_id() -> dict[str, dict[str, Any]]:
    """Every job_runs row by message id, after flushing this process's buffer."""
    RECORDER.flush()
    with db.get_engine().connect() as connection:
        rows = connection.execute(text("SELECT * FROM job_runs")).mappings().all()
    return {row["message_id"]: dict(row) for row in rows}
