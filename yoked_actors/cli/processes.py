"""`yoked worker` and `yoked scheduler`: the long-running processes."""

from __future__ import annotations

import sys

import click

from yoked_actors.cli.common import checked_settings
from yoked_actors.settings import Settings

ENTRYPOINT = "yoked_actors.entrypoint"


def worker_argv(
    settings: Settings,
    processes: int | None = None,
    threads: int | None = None,
    queues: tuple[str, ...] = (),
    dramatiq_args: tuple[str, ...] = (),
) -> list[str]:
    """The `dramatiq` command line of `yoked worker`: the shutdown timeout is the grace period
    (WORKER_SHUTDOWN_GRACE_S) unless the caller passed one."""
    argv = [
        ENTRYPOINT,
        "--processes",
        str(processes or settings.worker_processes),
        "--threads",
        str(threads or settings.worker_threads),
    ]
    if queues:
        argv += ["--queues", *queues]
    if not any(a.startswith("--worker-shutdown-timeout") for a in dramatiq_args):
        grace_ms = int(settings.worker_shutdown_grace_s * 1000)
        argv += ["--worker-shutdown-timeout", str(grace_ms)]
    return argv + list(dramatiq_args)


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--processes", "-p", type=int, help="Worker processes (default: WORKER_PROCESSES).")
@click.option("--threads", "-t", type=int, help="Threads per process (default: WORKER_THREADS).")
@click.option("--queues", "-Q", multiple=True, help="Consume only these queues (repeatable).")
@click.argument("dramatiq_args", nargs=-1, type=click.UNPROCESSED)
def worker(
    processes: int | None,
    threads: int | None,
    queues: tuple[str, ...],
    dramatiq_args: tuple[str, ...],
) -> None:
    """Run Dramatiq workers over every actor module.

    On SIGTERM the workers stop consuming and give the jobs in flight WORKER_SHUTDOWN_GRACE_S
    seconds to finish (match the deploy's kill timeout to it); a job still running then is
    recorded as interrupted and its message requeued, with no retry consumed.
    Extra arguments are passed to the `dramatiq` command as they are (see `dramatiq --help`).
    The parent process exits if a child dies: run it under a supervisor that restarts it
    (docker compose `restart: unless-stopped`, Fly machines' restart policy).
    """
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    settings = checked_settings(database=True, rabbitmq=True)
    argv = worker_argv(settings, processes, threads, queues, dramatiq_args)
    sys.exit(dramatiq_main(make_argument_parser().parse_args(argv)))


@click.command()
@click.option("--verbose", "-v", count=True, help="More log output.")
@click.option(
    "--interval",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.1, 60),
    help="Seconds between two looks at the cron table.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Serve Prometheus metrics (yoked_scheduler_oldest_overdue_seconds) here; 0 = off.",
)
def scheduler(verbose: int, interval: float, metrics_port: int) -> None:
    """Run the scheduler: turn the cron table (yoked_actors/schedules.py) into messages.

    Run one or several (high availability): the fire ledger in PostgreSQL makes each
    (schedule, due time) fire once. On start it catches up the fires missed within each
    schedule's catch-up window. See docs/scheduling.md.
    """
    import logging
    import signal
    import threading

    checked_settings(database=True, rabbitmq=True)
    import yoked_actors.entrypoint  # noqa: F401  (logging, Sentry, every actor, the broker)
    from yoked_actors.scheduling.scheduler import Scheduler

    if verbose:
        logging.getLogger("yoked_actors").setLevel(logging.DEBUG)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    Scheduler().run(stop, interval_s=interval)
    # Flush the run history's "queued" records of the messages this process sent.
    from yoked_actors.runs.recorder import RECORDER

    RECORDER.close()
