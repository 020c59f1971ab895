"""Push deliveries: one row per (digest, device), written before the push is sent.

A digest is one user's pending notifications collapsed into one push for one run; it goes to
each of the user's active tokens, one ``notification_deliveries`` row each, all sharing the
digest's ``digest_id`` (also written on the notifications it collapses).

``state``:

- ``sending``: committed before the HTTP call. A row still ``sending`` after a timeout means the
  process died between the call and recording its result: it becomes ``unknown`` (reported,
  never re-sent).
- ``sent``: Expo returned a ticket (``ticket_id``); ``receipt_status`` is filled in later.
- ``failed``: Expo refused the message (``error`` holds its code, e.g. DeviceNotRegistered).
- ``carried``: not sent (retries or the run's time ran out); the notifications wait for the next
  run.
- ``unknown``: sent, but the outcome was never learned.

No title, body or token is stored here: ids, codes and times only. Written by
:mod:`yoked_actors.notifications.store`; docs/notifications.md describes the flow.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from yoked_actors.db import Base

DELIVERY_STATES = ("sending", "sent", "failed", "carried", "unknown")


class NotificationDelivery(Base):
    __tablename__ = "notification_deliveries"
    __table_args__ = (
        CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in DELIVERY_STATES) + ")", name="state"
        ),
        Index("ix_notification_deliveries_user", "user_id", "created_at"),
        Index(
            "ix_notification_deliveries_sending",
            "created_at",
            postgresql_where=text("state = 'sending'"),
        ),
        Index(
            "ix_notification_deliveries_awaiting_receipt",
            "sent_at",
            postgresql_where=text("state = 'sent' AND receipt_status IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    digest_id: Mapped[uuid.UUID] = mapped_column(UUID)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID, ForeignKey("users.id", ondelete="CASCADE"))
    token_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("push_tokens.id", ondelete="SET NULL")
    )
    #: The digest's highest-priority kind, and how many notifications it collapses.
    kind: Mapped[str] = mapped_column(Text)
    item_count: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(Text, server_default="sending")
    #: Expo's error code (ticket or request), or why it was carried / unknown.
    error: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[str | None] = mapped_column(Text)
    #: ``ok`` | ``error`` | ``expired`` (Expo keeps receipts for a day).
    receipt_status: Mapped[str | None] = mapped_column(Text)
    receipt_error: Mapped[str | None] = mapped_column(Text)
    receipt_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
