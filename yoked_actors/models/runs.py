"""Tables of the reliability layer: run history, idempotency marks and the transactional outbox.

These are the service's own tables, except ``outbox``, which is also a contract: any producer
(the TypeScript API with plain SQL included) may add rows to it inside its own transaction; see
docs/reliability.md for the statement. Every statement on these tables is in
:mod:`yoked_actors.runs.store`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, SmallInteger, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from yoked_actors.db import Base


class JobRun(Base):
    """One row per message: its latest status, attempts, timings and why it failed.

    Written in batches by :class:`yoked_actors.runs.recorder.RunRecorder`, fed by the
    :class:`~yoked_actors.middleware.run_history.RunHistory` middleware. ``status_rank`` orders
    the statuses within an attempt so that an update flushed late never moves a row backwards
    (``STATUS_RANK`` in :mod:`yoked_actors.runs.events`). ``payload`` holds the message's
    kwargs only for runs that failed, so that they can be replayed; it never goes to logs or
    Sentry.
    """

    __tablename__ = "job_runs"

    message_id: Mapped[str] = mapped_column(Text, primary_key=True)
    actor: Mapped[str] = mapped_column(Text)
    queue: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    status_rank: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    schedule_fire: Mapped[str | None] = mapped_column(Text)
    replay_of: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_job_runs_actor_updated", "actor", "updated_at"),
        Index("ix_job_runs_status_updated", "status", "updated_at"),
        Index("ix_job_runs_updated", "updated_at"),
        # The console's runs page: keyset pages and its filters (migration 0910_console).
        Index("ix_job_runs_updated_message", updated_at.desc(), message_id.desc()),
        Index("ix_job_runs_queue_updated", "queue", "updated_at"),
        Index(
            "ix_job_runs_idempotency_key",
            "idempotency_key",
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        Index("ix_job_runs_replay_of", "replay_of", postgresql_where=text("replay_of IS NOT NULL")),
        Index(
            "ix_job_runs_schedule_fire",
            "schedule_fire",
            postgresql_where=text("schedule_fire IS NOT NULL"),
        ),
    )


class IdempotencyKey(Base):
    """A key whose job has succeeded: written in the job's own transaction by ``claim_once``."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    actor: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_idempotency_keys_created", "created_at"),)


class OutboxMessage(Base):
    """A message to publish once its producer's transaction commits (the relay publishes it).

    Producers set ``actor``, ``payload`` and optionally ``idempotency_key``; the relay sets the
    rest. A row is pending while ``sent_at`` and ``failed_at`` are both null.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    idempotency_key: Mapped[str | None] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: Not before this time: the relay's backoff after a broker error.
    available_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "available_at",
            "id",
            postgresql_where=text("sent_at IS NULL AND failed_at IS NULL"),
        ),
    )
