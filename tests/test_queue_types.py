"""Queue types and broker addresses on the shared RabbitMQ node: a worker started with
``RABBITMQ_QUEUE_TYPE=quorum`` declares quorum queues and a canary lands; classic stays the
default; a worker started against queues of the other type stops with what to do; a node list
whose first reachable node is not the first listed still delivers.

Each test uses a vhost of its own (created and deleted here), so the run's vhost, where other
tests declare classic queues, is untouched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from common_support import wait_until
from sqlalchemy import select

from yoked_actors.broker import build_broker, declare_queues, use_broker
from yoked_actors.db import session_scope
from yoked_actors.errors import SettingsError
from yoked_actors.jobs import JOBS
from yoked_actors.models.system import Ping
from yoked_actors.rabbitmq import QUORUM_DELIVERY_LIMIT, QueueTypeMismatch, TypedRabbitmqBroker
from yoked_actors.settings import load_settings

YOKED = [sys.executable, "-m", "yoked_actors"]
REPO = Path(__file__).resolve().parents[1]
SEVEN_DAYS_MS = 7 * 86_400_000
#: The shared node, as tests/conftest.py reads it.
RABBITMQ_HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1:5672")


def rabbitmqctl(*args: str) -> str:
    return subprocess.run(
        ["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


@pytest.fixture
def vhost_url() -> Iterator[str]:
    """A vhost of this test's own, deleted at the end."""
    vhost = f"yoked_test_{os.getpid()}_q{uuid.uuid4().hex[:6]}"
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    yield f"amqp://guest:guest@{RABBITMQ_HOST}/{quote(vhost, safe='')}"
    rabbitmqctl("delete_vhost", vhost)


def queues(url: str) -> dict[str, dict[str, object]]:
    """name -> {type, arguments} as RabbitMQ reports them (``rabbitmqctl list_queues``)."""
    vhost = url.rsplit("/", 1)[1].replace("%2F", "/")
    out = rabbitmqctl(
        "list_queues", "-p", vhost, "name", "type", "arguments", "--formatter", "json"
    )
    listed = json.loads(out or "[]")
    found: dict[str, dict[str, object]] = {}
    for queue in listed:
        arguments = queue["arguments"]
        if isinstance(arguments, list):  # RabbitMQ 3.x: [[key, AMQP type, value], ...]
            arguments = {item[0]: item[-1] for item in arguments}
        found[queue["name"]] = {"type": queue["type"], "arguments": arguments}
    return found


def env_for(database_url: str, rabbitmq_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "RABBITMQ_"))}
    env.update(
        DATABASE_URL=database_url,
        RABBITMQ_URL=rabbitmq_url,
        METRICS_PORT="0",
        YOKED_ENV="test",
        LOG_LEVEL="info",
        **extra,
    )
    return env


@pytest.fixture
def stub_after() -> Iterator[None]:
    """The jobs go back to an in-process broker after a test that bound them to its own."""
    yield
    from dramatiq.brokers.stub import StubBroker

    from yoked_actors.broker import middleware_stack

    use_broker(StubBroker(middleware=middleware_stack(load_settings({}))))


def pings(note: str) -> list[Ping]:
    with session_scope() as session:
        return list(session.scalars(select(Ping).where(Ping.note == note)))


def test_a_quorum_worker_declares_quorum_queues_and_the_canary_lands(
    clean_db: str, vhost_url: str, tmp_path: Path
) -> None:
    env = env_for(clean_db, vhost_url, RABBITMQ_QUEUE_TYPE="quorum")
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [*YOKED, "worker", "-p", "1", "-t", "2"],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        wait_until(lambda: "maintenance" in queues(vhost_url), 60, "the worker declares")
        sent = subprocess.run(
            [*YOKED, "send", "system.ping", "--payload", '{"note": "quorum canary"}'],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        wait_until(lambda: bool(pings("quorum canary")), 30, "the canary's row")
        assert [p.message_id for p in pings("quorum canary")] == [sent.stdout.strip()]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)

    declared = queues(vhost_url)
    assert {"maintenance", "maintenance.DQ", "maintenance.XQ", "moderation.XQ"} <= set(declared)
    assert {q["type"] for q in declared.values()} == {"quorum"}, declared
    main = declared["maintenance"]["arguments"]
    assert main["x-dead-letter-routing-key"] == "maintenance.XQ"
    assert main["x-delivery-limit"] == QUORUM_DELIVERY_LIMIT
    assert declared["maintenance.DQ"]["arguments"]["x-dead-letter-routing-key"] == "maintenance.XQ"
    assert declared["maintenance.XQ"]["arguments"]["x-message-ttl"] == SEVEN_DAYS_MS


@pytest.mark.usefixtures("stub_after")
def test_classic_is_the_default_when_the_setting_is_absent(vhost_url: str) -> None:
    settings = load_settings({"RABBITMQ_URL": vhost_url})
    assert settings.rabbitmq_queue_type == "classic"
    broker = build_broker(settings)
    try:
        use_broker(broker)
        declare_queues(broker)
    finally:
        broker.close()
    declared = queues(vhost_url)
    assert {"maintenance", "maintenance.DQ", "maintenance.XQ"} <= set(declared)
    assert {q["type"] for q in declared.values()} == {"classic"}
    assert "x-delivery-limit" not in declared["maintenance"]["arguments"]
    assert declared["maintenance.XQ"]["arguments"]["x-message-ttl"] == SEVEN_DAYS_MS


def test_a_quorum_worker_on_classic_queues_stops_and_says_how_to_migrate(
    clean_db: str, vhost_url: str
) -> None:
    classic = TypedRabbitmqBroker(url=vhost_url, middleware=[])
    classic.declare_queue("maintenance", ensure=True)
    classic.close()

    started = subprocess.run(
        [*YOKED, "worker", "-p", "1", "-t", "1"],
        env=env_for(clean_db, vhost_url, RABBITMQ_QUEUE_TYPE="quorum"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert started.returncode != 0
    assert "RabbitMQ queue 'maintenance' exists with other arguments" in started.stderr
    assert "RABBITMQ_QUEUE_TYPE=classic" in started.stderr
    assert "docs/broker.md" in started.stderr
    assert queues(vhost_url)["maintenance"]["type"] == "classic"  # nothing was changed

    # The documented migration: the queues are empty (drained), delete them, redeclare.
    vhost = vhost_url.rsplit("/", 1)[1]
    listed = rabbitmqctl("list_queues", "-p", vhost, "name", "messages", "--formatter", "json")
    assert {q["name"]: q["messages"] for q in json.loads(listed)}["maintenance"] == 0
    for name in ("maintenance", "maintenance.DQ", "maintenance.XQ"):
        rabbitmqctl("delete_queue", "-p", vhost, name)
    quorum = TypedRabbitmqBroker(queue_type="quorum", url=vhost_url, middleware=[])
    quorum.declare_queue("maintenance", ensure=True)
    quorum.close()
    assert queues(vhost_url)["maintenance"]["type"] == "quorum"


def test_a_sender_with_quorum_against_classic_queues_gets_the_same_advice(
    vhost_url: str,
) -> None:
    classic = TypedRabbitmqBroker(url=vhost_url, middleware=[])
    classic.declare_queue("maintenance", ensure=True)
    classic.close()
    broker = TypedRabbitmqBroker(queue_type="quorum", url=vhost_url, middleware=[])
    try:
        with pytest.raises(QueueTypeMismatch, match="drain the queue, delete 'maintenance'"):
            broker.declare_queue("maintenance", ensure=True)
    finally:
        broker.close()


@pytest.mark.usefixtures("stub_after")
def test_listed_order_keeps_the_first_node_first_and_random_spreads() -> None:
    from yoked_actors.broker import amqp_urls

    nodes = "amqp://u:p@rabbit-1/,amqp://u:p@rabbit-2/,amqp://u:p@rabbit-3/"
    listed = load_settings({"RABBITMQ_URL": nodes, "RABBITMQ_NODE_ORDER": "listed"})
    assert {amqp_urls(listed)[0] for _ in range(20)} == {
        "amqp://u:p@rabbit-1/?heartbeat=30&blocked_connection_timeout=60&connection_attempts=3"
        "&retry_delay=1&socket_timeout=10"
    }
    spread = load_settings({"RABBITMQ_URL": nodes})
    assert spread.rabbitmq_node_order == "random"
    firsts = {amqp_urls(spread)[0].split("/")[2] for _ in range(60)}
    assert firsts == {"u:p@rabbit-1", "u:p@rabbit-2", "u:p@rabbit-3"}
    orders = {tuple(u.split("/")[2] for u in amqp_urls(spread)) for _ in range(60)}
    assert orders <= {
        ("u:p@rabbit-1", "u:p@rabbit-2", "u:p@rabbit-3"),
        ("u:p@rabbit-2", "u:p@rabbit-3", "u:p@rabbit-1"),
        ("u:p@rabbit-3", "u:p@rabbit-1", "u:p@rabbit-2"),
    }


def test_a_node_list_fails_over_to_the_node_that_answers(clean_db: str, vhost_url: str) -> None:
    host = RABBITMQ_HOST.split(":")[0]
    vhost = vhost_url.rsplit("/", 1)[1]
    dead = f"amqp://guest:guest@{host}:1/{vhost}"  # nothing listens on port 1
    settings = load_settings({"RABBITMQ_URL": f"{dead}, {vhost_url}", "DATABASE_URL": clean_db})
    assert settings.rabbitmq_urls == [dead, vhost_url]
    for _ in range(4):  # each broker starts at a random node of the list
        broker = build_broker(settings)
        try:
            use_broker(broker)
            message = JOBS["system.ping"].send({"note": "failover"})
            assert message.message_id
        finally:
            broker.close()
    assert queues(vhost_url)["maintenance"]["type"] == "classic"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"RABBITMQ_QUEUE_TYPE": "mirrored"}, "RABBITMQ_QUEUE_TYPE='mirrored' is invalid"),
        ({"RABBITMQ_NODE_ORDER": "first"}, "RABBITMQ_NODE_ORDER='first' is invalid"),
        (
            {"RABBITMQ_URL": "amqp://a/,http://b/"},
            "RABBITMQ_URL='amqp://a/,http://b/' is invalid ('http://b/' is not an amqp://",
        ),
    ],
)
def test_bad_broker_settings_name_the_variable(env: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError, match=None) as raised:
        load_settings(env)
    assert expected in str(raised.value)


def test_the_documented_settings_and_compose_cluster_are_what_the_code_reads() -> None:
    doc = (REPO / "docs/broker.md").read_text()
    block = doc.split("```sh\n", 1)[1].split("```", 1)[0]
    env = dict(line.split("=", 1) for line in block.strip().splitlines())
    settings = load_settings(env)
    assert settings.rabbitmq_queue_type == "quorum"
    assert [u.split("@")[1] for u in settings.rabbitmq_urls] == [
        "rabbit-1:5672/",
        "rabbit-2:5672/",
        "rabbit-3:5672/",
    ]
    import yaml

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    cluster = {n for n, s in compose["services"].items() if "cluster" in s.get("profiles", [])}
    assert cluster == {"rabbit-1", "rabbit-2", "rabbit-3"}
    for name in cluster:
        script = compose["services"][name]["command"][2]
        assert all(f"nodes.{i} = rabbit@rabbit-{i}" in script for i in (1, 2, 3))
        assert compose["services"][name]["hostname"] == name
    assert "RABBITMQ_ERLANG_COOKIE=" in (REPO / ".env.example").read_text()
