"""Fixtures for the real servers: an isolated PostgreSQL database and RabbitMQ vhost per run.

A test run never touches a developer's data: it creates the database ``yoked_test_<id>`` (schema
built by the migrations) and the vhost ``yoked_test_<id>``, and drops both at the end.

- ``database_url``: the run's database, also installed as the process's engine.
- ``clean_db``: empties every table after the test.
- ``rabbitmq_broker`` / ``worker``: the real RabbitMQ broker with the project's middleware, on
  the run's vhost, and in-process worker threads consuming it.
- ``stub_broker`` / ``stub_worker``: Dramatiq's in-memory broker, for fast tests of pure logic.
- ``service_env``: environment variables for `yoked` subprocesses pointed at the same servers.

Server addresses come from ``TEST_DATABASE_ADMIN_URL`` (default: postgres on 127.0.0.1:5432)
and ``TEST_RABBITMQ_HOST`` (default 127.0.0.1:5672, guest/guest).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import text

from yoked_actors import db, migrate
from yoked_actors.actors import load_actors
from yoked_actors.broker import amqp_url_with_defaults, middleware_stack, use_broker
from yoked_actors.jobs import JOBS
from yoked_actors.moderation.provider import configured_provider
from yoked_actors.notifications.provider import push_provider
from yoked_actors.runs.recorder import RECORDER
from yoked_actors.settings import Settings, get_settings, load_settings

ADMIN_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1:5672")
RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"


def _sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database for this run, migrated to every head; dropped at the end."""
    name = f"yoked_test_{RUN_ID}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _sqlalchemy_url(ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    migrate.upgrade(url)
    db.configure(test_settings_for(url, None), url=url)
    yield url
    RECORDER.close()  # write the last buffered run-history rows while the database exists
    db.dispose()
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_database() -> None:
    """Every table but Alembic's emptied, identities restarted. Run history still buffered is
    written first, so it cannot land in the next test's empty tables."""
    RECORDER.flush()
    with db.get_engine().begin() as connection:
        names = connection.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'alembic_version'"
            )
        ).scalars()
        tables = ", ".join(f'"{name}"' for name in names)
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def clean_db(database_url: str) -> Iterator[str]:
    """The run's database, empty when the test starts (a test without this fixture may have
    left rows) and emptied again after it."""
    _empty_database()
    yield database_url
    _empty_database()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    """An AMQP URL to a vhost of this run's own, deleted at the end."""
    vhost = f"yoked_test_{RUN_ID}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"amqp://guest:guest@{RABBITMQ_HOST}/{quote(vhost, safe='')}"
    _rabbitmqctl("delete_vhost", vhost)


def test_settings_for(database_url: str | None, rabbitmq_url: str | None) -> Settings:
    env = {"YOKED_ENV": "test", "METRICS_PORT": "0", "LOG_LEVEL": "info"}
    if database_url:
        env["DATABASE_URL"] = database_url
    if rabbitmq_url:
        env["RABBITMQ_URL"] = rabbitmq_url
    return load_settings(env)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Each test reads the environment anew (get_settings caches it for a process's life), and
    the providers built from it are rebuilt."""
    for cached in (get_settings, push_provider, configured_provider):
        cached.cache_clear()
    yield
    for cached in (get_settings, push_provider, configured_provider):
        cached.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def _actors_loaded() -> None:
    """Declare every job once (on a stub broker); broker fixtures re-bind them."""
    use_broker(StubBroker(middleware=middleware_stack(test_settings_for(None, None))))
    load_actors()


@pytest.fixture
def settings(database_url: str, rabbitmq_url: str) -> Settings:
    return test_settings_for(database_url, rabbitmq_url)


@pytest.fixture
def service_env(database_url: str, rabbitmq_url: str) -> dict[str, str]:
    """Environment for `yoked` subprocesses: the run's database and vhost, no metrics port."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RABBITMQ_URL")}
    env.update(
        DATABASE_URL=database_url,
        RABBITMQ_URL=rabbitmq_url,
        METRICS_PORT="0",
        YOKED_ENV="test",
        LOG_LEVEL="info",
    )
    return env


def _purge(broker: RabbitmqBroker) -> None:
    for queue in broker.get_declared_queues():
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            broker.channel.queue_purge(name)


@pytest.fixture
def rabbitmq_broker(settings: Settings, clean_db: str) -> Iterator[RabbitmqBroker]:
    """The real RabbitMQ broker (confirms, the project's middleware) on the run's vhost."""
    broker = RabbitmqBroker(
        url=amqp_url_with_defaults(settings.require_rabbitmq_url()),
        confirm_delivery=True,
        middleware=middleware_stack(settings),
    )
    use_broker(broker)
    for queue in broker.get_declared_queues():
        broker.declare_queue(queue, ensure=True)  # so tests can count messages in any queue
    _purge(broker)  # what an earlier test sent without this fixture (a CLI run) is not ours
    broker.emit_after("process_boot")
    yield broker
    _purge(broker)
    broker.close()


@pytest.fixture
def worker(rabbitmq_broker: RabbitmqBroker) -> Iterator[Worker]:
    """Worker threads in this process consuming the real broker."""
    worker = Worker(rabbitmq_broker, worker_threads=4, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def stub_broker() -> Iterator[StubBroker]:
    """Dramatiq's in-memory broker with the project's middleware: for pure-logic tests only."""
    broker = StubBroker(middleware=middleware_stack(test_settings_for(None, None)))
    use_broker(broker)
    broker.emit_after("process_boot")
    yield broker
    broker.flush_all()
    broker.close()


@pytest.fixture
def stub_worker(stub_broker: StubBroker) -> Iterator[Worker]:
    worker = Worker(stub_broker, worker_threads=2, worker_timeout=100)
    worker.start()
    yield worker
    worker.stop()


def job_names() -> list[str]:
    """Every declared job (for parametrised contract tests)."""
    return sorted(JOBS)


def first_line(result: Any) -> str:
    """The first line of a subprocess's stderr (CLI errors are one line)."""
    return (result.stderr or "").strip().splitlines()[0] if result.stderr else ""
