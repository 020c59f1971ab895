"""Console users: made with ``yoked console add-user``, checked at login (argon2id hashes)."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from yoked_actors.console import store
from yoked_actors.errors import PermanentError
from yoked_actors.models.console import ROLES, ConsoleUser

_NAME = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$")
#: argon2id, memory-hard (64 MiB, 3 passes): the argon2-cffi defaults of RFC 9106's second choice.
HASHER = PasswordHasher()
MIN_PASSWORD = 10


class UserError(PermanentError):
    """A user name, role or password that cannot be used (the message says why)."""


def add_user(session: Session, name: str, role: str, password: str) -> None:
    """Create the console user ``name`` (or change its role and password)."""
    if not _NAME.match(name):
        raise UserError(f"user name {name!r}: 1-64 letters, digits, . _ @ -")
    if role not in ROLES:
        raise UserError(f"role {role!r}: must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password: at least {MIN_PASSWORD} characters")
    store.upsert_user(session, name=name, role=role, password_hash=HASHER.hash(password))


def authenticate(session: Session, name: str, password: str) -> ConsoleUser | None:
    """The user if ``password`` is theirs; None otherwise (same cost whether or not the user
    exists, so a wrong name is not faster than a wrong password)."""
    user = store.get_user(session, name) if _NAME.match(name) else None
    try:
        HASHER.verify(user.password_hash if user else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


_DUMMY = HASHER.hash("not a password of anyone")
