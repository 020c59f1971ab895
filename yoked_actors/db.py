"""The database layer: one engine per process, one session per unit of work.

Every job opens its session with :func:`session_scope`: committed when the block ends normally,
rolled back when it raises. The engine sets ``statement_timeout`` on every connection, because a
Dramatiq time limit cannot interrupt a thread blocked in a socket read (see DESIGN.md): a query
that hangs must fail on the server's side instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, MetaData, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from yoked_actors.settings import Settings, get_settings

# Stable constraint names, so that migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table, the API's contract tables and the service's own."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


_lock = threading.Lock()
_engine: Engine | None = None
_sessionmaker: sessionmaker[Session] | None = None


def make_engine(url: str, *, statement_timeout_ms: int, pool_size: int = 10) -> Engine:
    """An engine whose connections cannot run a statement longer than ``statement_timeout_ms``."""
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,  # a connection broken by a Postgres restart is replaced, not used
        connect_args={
            "options": f"-c statement_timeout={statement_timeout_ms}",
            "connect_timeout": 10,
            "application_name": "yoked-actors",
        },
    )


def configure(settings: Settings | None = None, *, url: str | None = None) -> Engine:
    """(Re)build the process's engine. Called at worker boot; tests call it with their own URL."""
    global _engine, _sessionmaker
    settings = settings or get_settings()
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = make_engine(
            url or settings.require_database_url(),
            statement_timeout_ms=settings.statement_timeout_ms,
            pool_size=settings.db_pool_size,
        )
        _sessionmaker = sessionmaker(_engine, expire_on_commit=False)
        return _engine


def get_engine() -> Engine:
    """The process's engine, built from the settings on first use."""
    if _engine is None:
        configure()
    assert _engine is not None
    return _engine


def dispose() -> None:
    """Close every pooled connection (worker shutdown, or after a fork).

    The engine stays configured: its next use opens fresh connections.
    """
    with _lock:
        if _engine is not None:
            _engine.dispose()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session committed on success and rolled back on any exception.

    Everything a job writes inside one scope lands together or not at all, which is what makes
    "mark as done + effects" atomic for idempotent jobs.
    """
    get_engine()
    assert _sessionmaker is not None
    session = _sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
