"""Tables of the service's own plumbing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from yoked_actors.db import Base


class Ping(Base):
    """One row per `system.ping` run: proof that send -> broker -> worker -> database works."""

    __tablename__ = "pings"

    message_id: Mapped[str] = mapped_column(Text, primary_key=True)
    note: Mapped[str] = mapped_column(Text, server_default="")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
