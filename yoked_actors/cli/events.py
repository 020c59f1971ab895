"""`yoked emit` (send an event) and `yoked contract` (the generated wire-format docs)."""

from __future__ import annotations

from pathlib import Path

import click

from yoked_actors.cli.common import (
    checked_settings,
    chosen_payload,
    connect_broker,
    parse_json_object,
    payload_options,
    reported_errors,
)


@click.command()
@click.argument("event")
@payload_options(required=True)
def emit(event: str, payload: str | None, legacy_payload: str | None) -> None:
    """Validate an EVENT payload (e.g. message.sent) and enqueue it; print the message id.

    The payload uses the event's camelCase field names (docs/wire-format.md). A bad payload, an
    unknown event or invalid JSON exits with status 2, names the field, and enqueues nothing.
    """
    data = parse_json_object(
        chosen_payload(payload, legacy_payload, required=True), option="--payload"
    )
    from yoked_actors import events

    with reported_errors():
        events.validate(event, data)  # before connecting: bad input needs no broker
    connect_broker(checked_settings(rabbitmq=True))
    with reported_errors():
        message = events.emit(event, data)
    click.echo(message.message_id)


@click.command()
@click.option("--write", "mode", flag_value="write", help="Write the files.")
@click.option(
    "--check", "mode", flag_value="check", default=True, help="Exit 1 if a file is stale (default)."
)
@click.option(
    "--docs",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs"),
    show_default=True,
    help="The docs directory.",
)
def contract(mode: str, docs: Path) -> None:
    """Generate docs/wire-format.md and docs/schemas/*.json from the code's event schemas.

    --check (the default) lists stale files and exits 1 if there are any; --write rewrites them.
    """
    from yoked_actors.actors import load_actors
    from yoked_actors.contract import stale_files, write_contract

    load_actors()
    if mode == "write":
        for path in write_contract(docs):
            click.echo(f"wrote {docs / path}")
        return
    stale = stale_files(docs)
    for path in stale:
        click.echo(f"stale: {docs / path} (run: yoked contract --write)", err=True)
    if stale:
        raise SystemExit(1)
    click.echo("contract files are up to date")
