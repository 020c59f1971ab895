"""The database layer against the real PostgreSQL: what each scope sends, and pooled connections
that the server dropped while they sat idle."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import text

from yoked_actors import db
from yoked_actors.db import session_scope, statement_scope


@contextmanager
def traced_queries() -> Iterator[list[str]]:
    """The simple-protocol commands (``BEGIN``, ``COMMIT``, a ping) sent on the pool's one
    connection inside the block, read from libpq's protocol trace."""
    db.dispose()
    with db.get_engine().connect() as connection:  # the connection the block will reuse
        pgconn = connection.connection.driver_connection.pgconn  # type: ignore[union-attr]
    sent: list[str] = []
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        try:
            yield sent
        finally:
            pgconn.untrace()
            trace.seek(0)
            sent.extend(
                line.rsplit("\t", 1)[-1].strip(' "')
                for line in trace.read().splitlines()
                if "\tF\t" in line and "\tQuery\t" in line
            )


def test_statement_scope_sends_the_statement_alone_and_it_is_committed(clean_db: str) -> None:
    with traced_queries() as sent, statement_scope() as session:
        session.execute(text("INSERT INTO pings (message_id) VALUES ('alone')"))
    assert "BEGIN" not in sent and "COMMIT" not in sent
    with psycopg.connect(clean_db.replace("+psycopg", "")) as other:
        found = other.execute("SELECT count(*) FROM pings WHERE message_id = 'alone'")
        assert found.fetchone() == (1,)


def test_session_scope_still_wraps_its_statements_in_one_transaction(clean_db: str) -> None:
    with traced_queries() as sent, pytest.raises(RuntimeError), session_scope() as session:
        session.execute(text("INSERT INTO pings (message_id) VALUES ('first')"))
        session.execute(text("INSERT INTO pings (message_id) VALUES ('second')"))
        raise RuntimeError("the job failed after both writes")
    assert sent.count("BEGIN") == 1 and "COMMIT" not in sent
    with session_scope() as session:
        assert session.execute(text("SELECT count(*) FROM pings")).scalar_one() == 0


def test_a_busy_connection_is_not_pinged_an_idle_one_is(
    clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with traced_queries() as busy:
        for _ in range(3):
            with statement_scope() as session:
                session.execute(text("SELECT 1"))
    assert busy == ["SELECT 1"] * 3  # used a moment ago: no ping before each use
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # every pooled connection counts as idle
    with traced_queries() as idle, statement_scope() as session:
        session.execute(text("SELECT 1"))
    assert len(idle) == 2 and idle[-1] == "SELECT 1"  # the ping, then the statement


def test_a_connection_the_server_dropped_while_idle_is_replaced_before_use(
    clean_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.dispose()
    with session_scope() as session:
        backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with psycopg.connect(clean_db.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # every pooled connection counts as idle
    with session_scope() as session:  # no error: the ping failed, a new connection was opened
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
