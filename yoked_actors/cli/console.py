"""`yoked console`: serve the operator console; `yoked console add-user` makes its users."""

from __future__ import annotations

import sys

import click

from yoked_actors.cli.common import (
    BadInput,
    checked_settings,
    connect_broker,
    database_session,
    reported_errors,
)


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.pass_context
def console(ctx: click.Context, host: str, port: int) -> None:
    """The operator console: runs, queues, schedules, outbox; replays, pauses (docs/console.md)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from yoked_actors import db
    from yoked_actors.console.app import create_app

    settings = checked_settings(database=True)
    db.configure(settings)
    if settings.rabbitmq_url:
        connect_broker(settings)  # replays and manual fires send messages
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        proxy_headers=True,
        server_header=False,
    )


@console.command("add-user")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "operator"]), required=True)
def add_user_command(name: str, role: str) -> None:
    """Create console user NAME (or change its role and password); the password is read from
    standard input (one line), never from the command line."""
    from yoked_actors.console.users import add_user

    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise BadInput(
            "no password on standard input; example: "
            "echo 'long secret' | yoked console add-user ana --role viewer"
        )
    with reported_errors(), database_session() as session:
        add_user(session, name, role, password)
    click.echo(f"console user {name} ({role}) saved")
