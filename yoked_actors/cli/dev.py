"""`yoked dev`: the whole service in one process, for development."""

from __future__ import annotations

import sys

import click

from yoked_actors.cli.common import print_table, reported_errors
from yoked_actors.settings import get_settings


@click.command()
@click.option(
    "--once", is_flag=True, help="Seed, run one cycle of every job, print a summary, exit."
)
@click.option("--seed", is_flag=True, help="Load the demo data set (idempotent).")
@click.option("--threads", default=4, show_default=True, help="Worker threads in this process.")
def dev(once: bool, seed: bool, threads: int) -> None:
    """Run worker, scheduler and database in one process. DEVELOPMENT ONLY.

    Without DATABASE_URL an embedded PostgreSQL is started (data in ./.yoked/); without
    RABBITMQ_URL an in-process broker is used.
    """
    from yoked_actors.dev import SUMMARY_HEADER, run_dev, summary_rows

    with reported_errors():
        settings = get_settings()
        result = run_dev(settings, once=once, seed=seed, threads=threads, echo=click.echo)
    if once:
        click.echo("")
        print_table(SUMMARY_HEADER, summary_rows(result.outcomes))
    sys.exit(result.status)
