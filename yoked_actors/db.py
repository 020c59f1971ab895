"""The database layer: one engine per process, one session per unit of work.

Every job opens its session with :func:`session_scope`: committed when the block ends normally,
rolled back when it raises. The engine sets ``statement_timeout`` on every connection, because a
Dramatiq time limit interrupts Python code only: a thread blocked in a socket read (a query that
hangs, ``pg_sleep``) is not interrupted, so the job would only fail after the query returned.
A query that hangs must fail on the server's side instead (docs/reliability.md).

The process's engine and session factory are one :class:`Database`, obtained with
:func:`get_database` (built on first use; ``get_database.cache_clear()`` forgets it, for tests).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

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


class Database:
    """A process's engine and session factory; built from the settings on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None

    def configure(self, settings: Settings | None = None, *, url: str | None = None) -> Engine:
        """(Re)build the engine for ``url`` (default: the settings' DATABASE_URL)."""
        settings = settings or get_settings()
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
            self._engine = make_engine(
                url or settings.require_database_url(),
                statement_timeout_ms=settings.statement_timeout_ms,
                pool_size=settings.db_pool_size,
            )
            self._sessions = sessionmaker(self._engine, expire_on_commit=False)
            return self._engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self.configure()
        assert self._engine is not None
        return self._engine

    def session(self) -> Session:
        """A new session on the engine."""
        if self._sessions is None:
            self.configure()
        assert self._sessions is not None
        return self._sessions()

    def dispose(self) -> None:
        """Close every pooled connection; the next use opens fresh ones."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()


@lru_cache(maxsize=1)
def get_database() -> Database:
    """The process's database (engine and session factory)."""
    return Database()


def configure(settings: Settings | None = None, *, url: str | None = None) -> Engine:
    """(Re)build the process's engine. Called at worker boot; tests call it with their own URL."""
    return get_database().configure(settings, url=url)


def get_engine() -> Engine:
    """The process's engine, built from the settings on first use."""
    return get_database().engine


def dispose() -> None:
    """Close every pooled connection (worker shutdown, or after a fork).

    The engine stays configured: its next use opens fresh connections.
    """
    get_database().dispose()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session committed on success and rolled back on any exception.

    Everything a job writes inside one scope lands together or not at all, which is what makes
    "mark as done + effects" atomic for idempotent jobs.
    """
    session = get_database().session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
