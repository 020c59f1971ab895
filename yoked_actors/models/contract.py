"""The tables the API owns and the jobs read: the data contract (docs/data-contract.md).

Names and meanings are the contract; columns and indexes may be added. The API writes these rows
(TypeScript today); the jobs update only the columns the contract gives them (statuses, timestamps).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from yoked_actors.db import Base

USER_STATUSES = ("active", "suspended", "deactivated")
OFFER_STATUSES = ("pending", "accepted", "declined", "expired", "cancelled")
MODERATION_STATUSES = ("pending", "clean", "flagged", "hidden")
NOTIFICATION_STATUSES = ("pending", "sent", "deferred", "dropped")

#: The fixed vocabulary of `users.goals`.
GOALS = (
    "strength",
    "hypertrophy",
    "powerlifting",
    "weight_loss",
    "endurance",
    "mobility",
    "calisthenics",
    "crossfit",
    "running",
    "yoga",
    "climbing",
    "boxing",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("status", USER_STATUSES), name="status"),
        CheckConstraint("level BETWEEN 1 AND 5", name="level"),
        Index(
            "ix_users_timezone_active",
            "timezone",
            postgresql_where=text("status = 'active' AND deleted_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text, server_default="active")
    timezone: Mapped[str] = mapped_column(Text, server_default="UTC")
    birthdate: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(Text)
    #: Empty means "anyone".
    seeking_genders: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]")
    )
    age_min: Mapped[int] = mapped_column(SmallInteger, server_default="18")
    age_max: Mapped[int] = mapped_column(SmallInteger, server_default="99")
    max_distance_km: Mapped[float] = mapped_column(Double, server_default="25")
    lat: Mapped[float | None] = mapped_column(Double)
    lon: Mapped[float | None] = mapped_column(Double)
    gym_id: Mapped[int | None] = mapped_column(BigInteger)
    level: Mapped[int | None] = mapped_column(SmallInteger)
    goals: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    #: 7 days x 4 slots (morning, midday, evening, night); Monday morning = bit 0.
    availability: Mapped[int] = mapped_column(Integer, server_default="0")
    last_active_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    quiet_hours_start: Mapped[int] = mapped_column(SmallInteger, server_default="22")
    quiet_hours_end: Mapped[int] = mapped_column(SmallInteger, server_default="8")
    #: Added by analytics (migration 0800, docs/analytics.md): when the user last became
    #: suspended; stamped by a trigger when status changes to 'suspended'.
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Block(Base):
    __tablename__ = "blocks"

    blocker_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    blocked_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MatchOffer(Base):
    """One offered pair for one local day; ``user_a_id < user_b_id`` always."""

    __tablename__ = "match_offers"
    __table_args__ = (
        UniqueConstraint("user_a_id", "user_b_id", "local_date", name="uq_match_offers_pair_day"),
        CheckConstraint("user_a_id < user_b_id", name="ordered_pair"),
        CheckConstraint(_in("status", OFFER_STATUSES), name="status"),
        Index("ix_match_offers_user_b", "user_b_id", "local_date"),
        Index("ix_match_offers_created_at", "created_at"),
        Index(
            "ix_match_offers_pending_expiry",
            "expires_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_a_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id", ondelete="CASCADE"))
    user_b_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Double)
    reasons: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    a_response: Mapped[str | None] = mapped_column(Text)
    b_response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(_in("moderation_status", MODERATION_STATUSES), name="moderation_status"),
        Index("ix_messages_created_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    match_offer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("match_offers.id", ondelete="SET NULL"), index=True
    )
    sender_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("users.id", ondelete="CASCADE")
    )
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    moderation_status: Mapped[str] = mapped_column(Text, server_default="pending")
    moderated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(_in("status", NOTIFICATION_STATUSES), name="status"),
        Index(
            "ix_notifications_pending",
            "created_at",
            postgresql_where=text("status IN ('pending', 'deferred')"),
        ),
        Index("ix_notifications_user", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    dedupe_key: Mapped[str | None] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Added by the notification batching (migration 0700, docs/notifications.md): when a
    # deferred row is due, why a row was dropped or deferred, and the digest that claimed it.
    deliver_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status_reason: Mapped[str | None] = mapped_column(Text)
    digest_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    #: Added by analytics (migration 0800): when status became 'dropped' (trigger-stamped).
    dropped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PushToken(Base):
    __tablename__ = "push_tokens"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token: Mapped[str] = mapped_column(Text, unique=True)
    platform: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: Added by analytics (migration 0800): when active became false (trigger-stamped).
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserActivityDay(Base):
    """Written by the API on a user's first request of a UTC day."""

    __tablename__ = "user_activity_days"
    __table_args__ = (Index("ix_user_activity_days_day", "day"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
