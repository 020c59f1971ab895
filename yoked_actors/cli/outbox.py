"""`yoked outbox`: the relay that publishes outbox rows, and a status summary."""

from __future__ import annotations

import signal
from typing import Any

import click

from yoked_actors.cli.common import (
    BadInput,
    checked_settings,
    connect_broker,
    database_session,
    parse_when,
    print_json,
    print_table,
)


@click.group()
def outbox() -> None:
    """The transactional outbox: rows producers insert in their own transaction."""


@outbox.command()
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.1, 300),
    default=5.0,
    show_default=True,
    help="Seconds between polls when no NOTIFY arrives.",
)
@click.option("--once", is_flag=True, help="Publish what is pending now, then exit.")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Serve Prometheus metrics here (a health check's target); 0 = off.",
)
def relay(batch_size: int, poll_interval: float, once: bool, metrics_port: int) -> None:
    """Publish pending outbox rows to RabbitMQ (with confirms) and mark them sent.

    Runs until SIGTERM / SIGINT. Several relays may run at once: rows are claimed with
    FOR UPDATE SKIP LOCKED, so none is published twice.
    """
    from yoked_actors.logs import configure_logging

    settings = checked_settings(database=True, rabbitmq=True)
    configure_logging(settings)
    connect_broker(settings)
    if metrics_port and not once:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
    if once:
        _relay_pending(batch_size)
    else:
        _relay_until_stopped(batch_size, poll_interval)


def _relay_pending(batch_size: int) -> None:
    """Publish batches until fewer than a batch are pending or the broker fails."""
    from yoked_actors.runs.outbox import relay_once

    total = 0
    while True:
        result = relay_once(batch_size)
        total += result.sent
        if result.broker_error or result.claimed < batch_size:
            break
    click.echo(f"{total} sent")
    if result.broker_error:
        raise click.ClickException(f"broker unavailable: {result.broker_error}")


def _relay_until_stopped(batch_size: int, poll_interval: float) -> None:
    """Run the relay until SIGTERM / SIGINT, then print its totals."""
    from yoked_actors.runs.outbox import Relay

    runner = Relay(batch_size=batch_size, poll_interval_s=poll_interval)

    def stop(*_: Any) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    totals = runner.run()
    click.echo(f"outbox relay stopped: {totals.sent} sent, {totals.failed} failed")


@outbox.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(as_json: bool) -> None:
    """Pending, sent and failed rows, and the age of the oldest pending one."""
    from yoked_actors.runs.store import outbox_status

    with database_session() as session:
        summary = outbox_status(session)
    if as_json:
        print_json(summary)
    else:
        for key, value in summary.items():
            click.echo(f"{key}: {value if value is not None else '-'}")


def _state(row: Any) -> str:
    return "sent" if row.sent_at else "failed" if row.failed_at else "pending"


@outbox.command(name="list")
@click.option("--state", type=click.Choice(["pending", "sent", "failed"]), help="Only these rows.")
@click.option("--since", help="Created since: 15m, 2h, 7d or an ISO time.")
@click.option("--until", help="Created before: 15m, 2h, 7d or an ISO time.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_rows(
    state: str | None, since: str | None, until: str | None, limit: int, as_json: bool
) -> None:
    """Outbox rows, newest first: id, actor, state, attempts, last error (never the payload)."""
    from yoked_actors.console.store import list_outbox

    since_at, until_at = parse_when(since), parse_when(until, "--until")
    with database_session() as session:
        rows: list[dict[str, Any]] = [
            {
                "id": r.id,
                "actor": r.actor,
                "state": _state(r),
                "attempts": r.attempts,
                "created_at": r.created_at,
                "sent_at": r.sent_at,
                "failed_at": r.failed_at,
                "message_id": r.message_id,
                "last_error": r.last_error,
            }
            for r in list_outbox(session, state=state, since=since_at, until=until_at, limit=limit)
        ]
    if as_json:
        print_json(rows)
        return
    print_table(
        ["ID", "ACTOR", "STATE", "ATTEMPTS", "CREATED_AT", "LAST_ERROR"],
        (
            [
                str(r["id"]),
                r["actor"],
                r["state"],
                str(r["attempts"]),
                r["created_at"].strftime("%Y-%m-%d %H:%M:%S"),
                (r["last_error"] or "-").splitlines()[0][:80],
            ]
            for r in rows
        ),
    )


@outbox.command()
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Every failed row.")
def retry(ids: tuple[int, ...], every: bool) -> None:
    """Make failed rows (IDS, or --all) pending again with their attempts reset: the relay
    publishes them at its next poll. Exit status 1 if none of IDS is a failed row."""
    from yoked_actors.console.store import retry_outbox

    if bool(ids) == every:
        raise BadInput("give the IDS of failed rows, or --all (not both)")
    with database_session() as session:
        count = retry_outbox(session, list(ids) if ids else None)
    click.echo(f"{count} failed row{'s' if count != 1 else ''} made pending again")
    if ids and count == 0:
        raise SystemExit(1)
