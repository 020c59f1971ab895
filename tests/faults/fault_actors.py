"""The job the fault tests run in a real worker process (``dramatiq fault_entrypoint``).

Its effect is a row keyed by the job's key, written with claim_once in the same transaction, and
counting how often it was applied: ``applied > 1`` would be a duplicate effect; ``worker`` is the
``FAULT_WORKER`` of the process that applied it (when the test set one).
"""

from __future__ import annotations

import os
import time

from dramatiq.middleware import CurrentMessage
from fault_effects import FAULT_JOB, FAULT_QUEUE
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text

from yoked_actors.db import session_scope
from yoked_actors.jobs import Job, job
from yoked_actors.middleware.idempotency import claim_once


class FaultPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(max_length=100)
    work_ms: int = Field(default=0, ge=0, le=10_000)
    #: On the first attempt, block in the database this long (scenario 5).
    block_db_s: int = Field(default=0, ge=0, le=600)


def apply_effect(payload: FaultPayload) -> dict[str, int]:
    """Apply the effect of ``payload.key`` once, whatever the number of deliveries."""
    message = CurrentMessage.get_current_message()
    first_attempt = message is None or not message.options.get("retries")
    with session_scope() as session:
        if payload.block_db_s and first_attempt:
            session.execute(text("SELECT pg_sleep(:s)"), {"s": payload.block_db_s})
        if not claim_once(session):
            return {"applied": 0}
        if payload.work_ms:
            time.sleep(payload.work_ms / 1000)
        session.execute(
            text(
                "INSERT INTO fault_effects (key, applied, worker) VALUES (:key, 1, :worker) "
                "ON CONFLICT (key) DO UPDATE SET applied = fault_effects.applied + 1"
            ),
            {"key": payload.key, "worker": os.environ.get("FAULT_WORKER")},
        )
    return {"applied": 1}


def declare() -> Job[FaultPayload]:
    """Declare ``faults.effect`` on the current broker (worker processes; the outbox relay of
    the RabbitMQ scenario, which validates and sends it)."""
    return job(
        FAULT_JOB,
        queue=FAULT_QUEUE,
        payload=FaultPayload,
        max_retries=3,
        time_limit=1_000,
        transient_max_retries=40,
        transient_max_backoff=2_000,
    )(apply_effect)


SLOW_JOB = "faults.slow_effect"


def declare_slow() -> Job[FaultPayload]:
    """``faults.slow_effect``: the same effect with room for long work (a 60 s time limit), for
    jobs still running when a worker shuts down."""
    return job(SLOW_JOB, queue=FAULT_QUEUE, payload=FaultPayload, max_retries=3, time_limit=60_000)(
        apply_effect
    )
