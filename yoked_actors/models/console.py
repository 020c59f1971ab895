"""Tables of the operator console: its users, their sessions and the audit trail of actions.

Every statement on them is in :mod:`yoked_actors.console.store`; see docs/console.md.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from yoked_actors.db import Base

ROLES = ("viewer", "operator")


class ConsoleUser(Base):
    """A person or script allowed into the console; the password is stored as an argon2 hash."""

    __tablename__ = "console_users"
    __table_args__ = (CheckConstraint("role IN ('viewer', 'operator')", name="role"),)

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    role: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ConsoleSession(Base):
    """A login: the cookie holds a random token, the table only its SHA-256 (a leaked table
    opens no session). ``csrf_token`` is what every form of that session must carry."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_expires_at", "expires_at"),)

    token_hash: Mapped[str] = mapped_column(Text, primary_key=True)
    user_name: Mapped[str] = mapped_column(
        Text, ForeignKey("console_users.name", ondelete="CASCADE")
    )
    csrf_token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsoleAudit(Base):
    """One operator action: who, what, on what, why, when, and how it ended."""

    __tablename__ = "console_audit"
    __table_args__ = (Index("ix_console_audit_at", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    user_name: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    target: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
