"""`yoked worker` and `yoked scheduler`: the long-running processes."""

from __future__ import annotations

import sys

import click

from yoked_actors.cli.common import reported_errors
from yoked_actors.settings import get_settings

ENTRYPOINT = "yoked_actors.entrypoint"


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

    Extra arguments are passed to the `dramatiq` command as they are (see `dramatiq --help`).
    The parent process exits if a child dies: run it under a supervisor that restarts it
    (docker compose `restart: unless-stopped`, Fly machines' restart policy).
    """
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    with reported_errors():
        settings = get_settings()
        settings.require_database_url()
        settings.require_rabbitmq_url()
    argv = [
        ENTRYPOINT,
        "--processes",
        str(processes or settings.worker_processes),
        "--threads",
        str(threads or settings.worker_threads),
    ]
    if queues:
        argv += ["--queues", *queues]
    argv += list(dramatiq_args)
    sys.exit(dramatiq_main(make_argument_parser().parse_args(argv)))


@click.command()
@click.option("--verbose", "-v", count=True, help="More log output.")
def scheduler(verbose: int) -> None:
    """Run the scheduler: turn the cron table (yoked_actors/schedules.py) into messages."""
    import periodiq

    with reported_errors():
        settings = get_settings()
        settings.require_database_url()
        settings.require_rabbitmq_url()
    args = periodiq.make_argument_parser().parse_args([ENTRYPOINT] + ["-v"] * verbose)
    sys.exit(periodiq.main(args))
