"""`system.ping`: an end-to-end canary an operator can send at any time.

``yoked send system.ping --json '{"note": "deploy 42"}'`` proves that a message goes from the
sender through RabbitMQ to a worker and into PostgreSQL: the row appears in ``pings``.
"""

from __future__ import annotations

from datetime import datetime

from dramatiq.middleware import CurrentMessage
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects.postgresql import insert

from yoked_actors.db import session_scope
from yoked_actors.jobs import job
from yoked_actors.models.system import Ping
from yoked_actors.queues import Queue


class PingPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=200)
    sent_at: datetime | None = None


@job("system.ping", queue=Queue.MAINTENANCE, payload=PingPayload, time_limit=10_000)
def ping(payload: PingPayload) -> dict[str, int]:
    """Record that this message reached a worker. Idempotent: keyed by the message id."""
    message = CurrentMessage.get_current_message()
    message_id = message.message_id if message else f"local:{datetime.now().isoformat()}"
    with session_scope() as session:
        inserted = session.scalars(
            insert(Ping)
            .values(message_id=message_id, note=payload.note, sent_at=payload.sent_at)
            .on_conflict_do_nothing()
            .returning(Ping.message_id)
        ).all()
    return {"rows": len(inserted)}
