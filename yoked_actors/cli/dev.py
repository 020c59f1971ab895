"""`yoked dev`: the whole service in one process, for development; `yoked dev stop`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from yoked_actors.cli.common import print_table, reported_errors
from yoked_actors.settings import get_settings


def _instant(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO instant (2026-05-04T13:30:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.group(invoke_without_command=True)
@click.option(
    "--once", is_flag=True, help="Run the demonstration of every job, print a summary, exit."
)
@click.option("--seed", is_flag=True, help="Load the demo data set (idempotent).")
@click.option("--threads", default=4, show_default=True, help="Worker threads in this process.")
@click.option(
    "--keep-db",
    is_flag=True,
    help="Leave the local PostgreSQL running at exit (`yoked dev stop` stops it).",
)
@click.option(
    "--now",
    metavar="ISO",
    help="The instant the demonstration treats as now, within a day of the present "
    "(demos and tests: it sets the hour of day; default: the clock).",
)
@click.pass_context
def dev(
    ctx: click.Context, once: bool, seed: bool, threads: int, keep_db: bool, now: str | None
) -> None:
    """Run worker, scheduler, console and database in one process. DEVELOPMENT ONLY.

    Without DATABASE_URL a local PostgreSQL 15 is started (data in ./.yoked/) and stopped at
    exit; without RABBITMQ_URL an in-process broker is used; pushes go to a local sink that
    prints them.
    """
    if ctx.invoked_subcommand is not None:
        return
    from yoked_actors.dev.demonstration import SUMMARY_HEADER, summary_rows
    from yoked_actors.dev.service import run_dev

    instant = _instant(now)
    with reported_errors():
        settings = get_settings()
        result = run_dev(
            settings,
            once=once,
            seed=seed,
            threads=threads,
            keep_db=keep_db,
            now=instant,
            echo=click.echo,
        )
    if once:
        click.echo("")
        print_table(SUMMARY_HEADER, summary_rows(result.outcomes, result.extra))
    sys.exit(result.status)


@dev.command()
def stop() -> None:
    """Stop the local PostgreSQL that `yoked dev` left running in ./.yoked/."""
    from yoked_actors.dev.service import pgdata, stop_local_postgres

    with reported_errors():
        stopped = stop_local_postgres()
    click.echo(f"yoked dev: PostgreSQL in {pgdata()} " + ("stopped" if stopped else "not running"))
