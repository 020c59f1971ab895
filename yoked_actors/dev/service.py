"""`yoked dev`: the whole service in one process, on local defaults. Development only.

- No ``DATABASE_URL``: a PostgreSQL 15 server (:mod:`yoked_actors.dev.local_postgres`) with its
  data in ``.yoked/pgdata`` under the current directory, migrated on start. `yoked dev` stops it on
  Ctrl-C, ``--once`` at its end, if they started it; one already running is reused and left
  running (``--keep-db`` leaves a started one running too); `yoked dev stop` stops it.
- No ``RABBITMQ_URL``: Dramatiq's in-process stub broker, consumed by worker threads here.
- Pushes (unless ``PUSH_PROVIDER=expo``) go through the Expo client to a local sink
  (:mod:`yoked_actors.dev.push_sink`) that prints what a phone would show.
- The scheduler, and the operator console when it is installed
  (:mod:`yoked_actors.dev.local_console`), run in this process too.

``--once`` runs the demonstration of :mod:`yoked_actors.dev.demonstration` in a fresh database
(``yoked_demo`` on the local server) and returns what happened to each message (the command
prints one row per job and exits 0 if every job succeeded).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dramatiq import Broker, Middleware, Worker
from dramatiq.broker import MessageProxy

from yoked_actors import db, migrate
from yoked_actors.actors import load_actors
from yoked_actors.broker import setup_broker
from yoked_actors.clock import Clock, utc_now
from yoked_actors.dev import local_postgres
from yoked_actors.dev.push_sink import PushSink, Shown
from yoked_actors.jobs import JOBS
from yoked_actors.schedules import SCHEDULES
from yoked_actors.settings import Settings, get_settings

DEV_DIR = Path(".yoked")
DEV_DATABASE = "yoked"
#: --once runs in a database of its own, made anew each time: the same demonstration every run.
ONCE_DATABASE = "yoked_demo"
#: Pushes printed after --once (the rest are counted).
SHOWN_PUSHES = 8


def pgdata(root: Path = DEV_DIR) -> Path:
    return root / "pgdata"


def _create_database(server_url: str, name: str, *, fresh: bool = False) -> None:
    """Create the database ``name`` on the server unless it exists (``fresh``: drop it first)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as connection:
        if fresh:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def stop_local_postgres(root: Path = DEV_DIR) -> bool:
    """`yoked dev stop`: stop the local PostgreSQL; False if it was not running."""
    return local_postgres.stop(pgdata(root))


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


@dataclass
class DevRun:
    """How a development run ended: the exit status and, with --once, each message's outcome
    and the pushes the local sink received."""

    status: int
    outcomes: list[Outcome] = field(default_factory=list)
    pushes: list[Shown] = field(default_factory=list)
    #: Words added to a job's summary row (the moderation mix).
    extra: dict[str, str] = field(default_factory=dict)


def run_dev(
    settings: Settings,
    *,
    once: bool,
    seed: bool,
    threads: int,
    keep_db: bool = False,
    now: datetime | None = None,
    echo: Any = print,
) -> DevRun:
    """Run the development service until Ctrl-C, or the demonstration with ``once``. Everything
    it starts (database server unless kept, push sink, worker, console) is stopped on return."""
    echo("yoked dev: DEVELOPMENT MODE - local defaults, not for production.")
    from yoked_actors.dev.demonstration import shifted_clock

    clock = shifted_clock(now)
    if now is not None:
        echo(f"  clock: the demonstration's now is {now.isoformat(timespec='seconds')}")
    with contextlib.ExitStack() as stack:
        _start_database(settings, stack, once=once, keep_db=keep_db, echo=echo)
        if seed or once:
            _seed(echo, clock)
        sink = stack.enter_context(_push_sink(settings, verbose=not once, echo=echo))
        broker, recorder = _start_broker(settings, echo)
        worker = Worker(broker, worker_threads=threads, worker_timeout=100)
        worker.start()
        stack.callback(worker.stop)
        if once:
            _report_undeclared_schedules(echo)
            return _run_once(broker, worker, recorder, sink, clock(), echo)
        from yoked_actors.dev.local_console import start_console

        stack.callback(start_console(settings, DEV_DIR, echo))
        return _serve_forever(echo)
    raise AssertionError("unreachable")  # pragma: no cover (mypy: the with block returns)


def _start_database(
    settings: Settings, stack: contextlib.ExitStack, *, once: bool, keep_db: bool, echo: Any
) -> None:
    """Point the process at DATABASE_URL or the local PostgreSQL 15, migrated to the heads."""
    url = settings.database_url
    if url is None:
        server = local_postgres.start(pgdata())
        where = f"PostgreSQL {local_postgres.MAJOR} on 127.0.0.1:{server.port}, data in {pgdata()}"
        if not server.started:
            echo(f"  database: {where} - already running, reused and left running")
            echo("            (`yoked dev stop` stops it)")
        elif keep_db:
            echo(f"  database: {where} - started; left running (`yoked dev stop` stops it)")
        else:
            echo(f"  database: {where} - started; stopped when this exits")
            stack.callback(_stop_database, echo)
        name = ONCE_DATABASE if once else DEV_DATABASE
        _create_database(server.libpq_url("postgres"), name, fresh=once)
        if once:
            echo(f"            a fresh database {name} for this demonstration")
        url = server.url(name)
    else:
        echo("  database: DATABASE_URL")
    db.configure(settings, url=url)
    stack.callback(db.dispose)
    migrate.upgrade(url)


def _stop_database(echo: Any) -> None:
    db.dispose()
    if local_postgres.stop(pgdata()):
        echo(f"  database: PostgreSQL stopped ({pgdata()})")


def _seed(echo: Any, clock: Clock = utc_now) -> None:
    from yoked_actors.dev.demo_data import seed_demo

    echo(f"  seed: {seed_demo(clock=clock)}")


@contextlib.contextmanager
def _push_sink(settings: Settings, *, verbose: bool, echo: Any) -> Iterator[PushSink | None]:
    """With the log provider (the development default), send pushes through the Expo client to
    a local sink for the duration; with PUSH_PROVIDER=expo, leave them alone."""
    from yoked_actors.notifications.provider import push_provider

    if settings.push.provider == "expo":
        echo(f"  push: PUSH_PROVIDER=expo ({settings.push.base_url})")
        yield None
        return

    def show(shown: Shown) -> None:
        if verbose:
            echo(f"  push  {shown.line()}")

    sink = PushSink(show).start()
    saved = {name: os.environ.get(name) for name in ("PUSH_PROVIDER", "EXPO_PUSH_URL")}
    os.environ.update(PUSH_PROVIDER="expo", EXPO_PUSH_URL=sink.url)
    get_settings.cache_clear()
    push_provider.cache_clear()
    echo(f"  push: Expo client -> local sink {sink.url} (prints what a phone would show)")
    try:
        yield sink
    finally:
        with contextlib.suppress(Exception):
            push_provider().close()
        push_provider.cache_clear()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        sink.stop()


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


def _run_once(
    broker: Broker,
    worker: Worker,
    recorder: OutcomeRecorder,
    sink: PushSink | None,
    now: datetime,
    echo: Any,
) -> DevRun:
    """The demonstration (:mod:`yoked_actors.dev.demonstration`); then the pushes the sink
    received."""
    from yoked_actors.dev.demo_data import CITIES
    from yoked_actors.dev.demonstration import dispatch_instants, moderation_mix, run_stages

    timezones = [tz for tz, _, _ in CITIES]
    echo("  daily matches: demo shift of the 09:00 window - the dispatcher is run with its clock")
    echo("    at 09:00 local on each timezone's current day (production: the real 09:00):")
    for tz, nine in dispatch_instants(timezones, now):
        echo(f"    {tz:<18} {nine.strftime('%Y-%m-%d %H:%M')} UTC")

    def sent(message_id: str, actor: str) -> None:
        recorder.outcomes[message_id] = Outcome(actor)

    run_stages(broker, worker, now, timezones, sent)
    outcomes = list(recorder.outcomes.values())
    pushes = list(sink.shown) if sink is not None else []
    if sink is not None:
        echo(f"\npushes received by the local sink: {len(pushes)} (what a phone would show)")
        for shown in pushes[:SHOWN_PUSHES]:
            echo(f"  {shown.line()}")
        if len(pushes) > SHOWN_PUSHES:
            echo(f"  ... and {len(pushes) - SHOWN_PUSHES} more")
    status = 0 if all(o.status == "succeeded" for o in outcomes) else 1
    extra = {"moderation.moderate_message": moderation_mix()}
    return DevRun(status, outcomes, pushes, extra)


def _serve_forever(echo: Any) -> DevRun:
    from yoked_actors.scheduling.scheduler import Scheduler

    stop = threading.Event()
    scheduler = threading.Thread(
        target=Scheduler().run, args=(stop,), name="yoked-scheduler", daemon=True
    )
    try:
        scheduler.start()
        echo("  worker and scheduler running; Ctrl-C stops everything yoked dev started.")
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        echo("stopping")
    stop.set()
    if scheduler.is_alive():
        scheduler.join(timeout=5)
    return DevRun(0)
