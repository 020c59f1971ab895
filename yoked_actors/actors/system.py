"""`system.ping`: an end-to-end canary an operator can send at any time.

``yoked send system.ping --payload '{"note": "deploy 42"}'`` proves that a message goes from the
sender through RabbitMQ to a worker and into PostgreSQL: the row appears in ``pings``, once per
message (:func:`yoked_actors.runs.store.record_ping`).
"""

from __future__ import annotations

from datetime import datetime

from dramatiq.middleware import CurrentMessage
from pydantic import BaseModel, ConfigDict, Field

from yoked_actors.clock import utc_now
from yoked_actors.db import session_scope
from yoked_actors.jobs import job
from yoked_actors.queues import Queue
from yoked_actors.runs import store


class PingPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=200)
    sent_at: datetime | None = None


@job("system.ping", queue=Queue.MAINTENANCE, payload=PingPayload, time_limit=10_000)
def ping(payload: PingPayload) -> dict[str, int]:
    """Record that this message reached a worker. Idempotent: keyed by the message id."""
    message = CurrentMessage.get_current_message()
    message_id = message.message_id if message else f"local:{utc_now().isoformat()}"
    with session_scope() as session:
        rows = store.record_ping(
            session, message_id=message_id, note=payload.note, sent_at=payload.sent_at
        )
    return {"rows": rows}
