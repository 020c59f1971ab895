"""Moderation's own tables: one result per message, one strike per flagged message.

``moderation_results.message_id`` has no foreign key on purpose: a result outlives its message
(audit), and a message deleted before it was judged is recorded as ``skipped``. Written by
:mod:`yoked_actors.moderation.store`; docs/moderation.md describes the policy.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from yoked_actors.db import Base


class ModerationResult(Base):
    """The verdict on one message, written once (redeliveries find it and change nothing)."""

    __tablename__ = "moderation_results"
    __table_args__ = (
        CheckConstraint("outcome IN ('decided', 'skipped')", name="outcome"),
        CheckConstraint(
            "decision IS NULL OR decision IN ('clean', 'flagged', 'hidden')", name="decision"
        ),
        Index(
            "ix_moderation_results_review",
            "created_at",
            postgresql_where=text("decision IN ('flagged', 'hidden')"),
        ),
    )

    message_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    sender_id: Mapped[uuid.UUID | None] = mapped_column(UUID, index=True)
    #: "decided", or "skipped" when the message no longer existed.
    outcome: Mapped[str] = mapped_column(Text)
    decision: Mapped[str | None] = mapped_column(Text)
    #: The categories that counted, and every category's score.
    categories: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    scores: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    #: Detector names ("phone", "link", ...): never matched text.
    signals: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    engine_version: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, server_default="local")
    #: The categories that counted on the rules alone (no learned classifier, no provider).
    rules_categories: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]")
    )
    #: Hidden only on the learned classifier's (or provider's) word: held for review, the
    #: sender not suspended unless a person upholds it (migration 0940).
    held: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )


class UserStrike(Base):
    """One strike per flagged or hidden message against its sender."""

    __tablename__ = "user_strikes"
    __table_args__ = (Index("ix_user_strikes_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID] = mapped_column(UUID, unique=True)
    decision: Mapped[str] = mapped_column(Text)
    categories: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    #: The strike of a verdict held for review: counts towards the strike limit, but suspends
    #: by itself only once a person upholds the verdict (then false).
    held: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
