"""The database layer: one engine per process, one session per unit of work.

Every job opens its session with :func:`session_scope`: committed when the block ends normally,
rolled back when it raises. The engine sets ``statement_timeout`` on every connection, because a
Dramatiq time limit interrupts Python code only: a thread blocked in a socket read (a query that
hangs, ``pg_sleep``) is not interrupted, so the job would only fail after the query returned.
A query that hangs must fail on the server's side instead (docs/reliability.md).

Round trips are what a short job spends most of its database time on, so the engine saves two:

- a pooled connection is pinged before use only when it has been idle for
  :data:`PING_AFTER_IDLE_S` (a restart or a proxy's idle timeout breaks idle connections; one
  that broke within the last seconds fails its statement, and the job is retried on a fresh
  one, since a failed ping or statement invalidates the whole pool);
- :func:`statement_scope` runs a unit of work that is a single statement in autocommit: no
  ``BEGIN`` and ``COMMIT`` round trips around it (a statement is atomic by itself).

The process's engine and session factory are one :class:`Database`, obtained with
:func:`get_database` (built on first use; ``get_database.cache_clear()`` forgets it, for tests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

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


#: A pooled connection idle at least this long is pinged (one round trip) before it is used.
PING_AFTER_IDLE_S = 10.0


def make_engine(url: str, *, statement_timeout_ms: int, pool_size: int = 10) -> Engine:
    """An engine whose connections cannot run a statement longer than ``statement_timeout_ms``."""
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={
            "options": f"-c statement_timeout={statement_timeout_ms}",
            "connect_timeout": 10,
            "application_name": "yoked-actors",
        },
    )
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """SQLAlchemy's ``pool_pre_ping``, but only for connections idle :data:`PING_AFTER_IDLE_S`:
    a busy worker's connections were used milliseconds ago, and pinging each costs a round trip
    per job. A failed ping invalidates the pool, as ``pool_pre_ping`` does."""

    @event.listens_for(engine, "checkin")
    def _note_idle(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(
        dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        idle_since = record.info.get("idle_since")  # None: connected just now
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise sa_exc.InvalidatePoolError(f"ping failed: {error}") from error


class Database:
    """A process's engine and session factory; built from the settings on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._autocommit_sessions: sessionmaker[Session] | None = None

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
            # Built once: a new option engine per session costs more than the statement.
            autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")
            self._autocommit_sessions = sessionmaker(autocommit, expire_on_commit=False)
            return self._engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self.configure()
        assert self._engine is not None
        return self._engine

    def session(self, *, autocommit: bool = False) -> Session:
        """A new session on the engine (in autocommit: each statement commits on its own)."""
        if self._sessions is None:
            self.configure()
        factory = self._autocommit_sessions if autocommit else self._sessions
        assert factory is not None
        return factory()

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
    yield from _scope(get_database().session())


@contextmanager
def statement_scope() -> Iterator[Session]:
    """A session in autocommit, for a unit of work that is exactly one statement (a
    data-modifying CTE, say): the statement is atomic by itself, and no ``BEGIN`` / ``COMMIT``
    round trips surround it. More than one statement here would not be atomic: use
    :func:`session_scope` for those."""
    yield from _scope(get_database().session(autocommit=True))


def _scope(session: Session) -> Iterator[Session]:
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
