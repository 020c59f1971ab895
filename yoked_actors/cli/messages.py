"""`yoked send` and `yoked run`: one actor message, queued or run here."""

from __future__ import annotations

from typing import Any

import click

from yoked_actors.cli.common import (
    checked_settings,
    chosen_payload,
    connect_broker,
    parse_json_object,
    payload_options,
    print_json,
    reported_errors,
)
from yoked_actors.jobs import Job, get_job
from yoked_actors.settings import Settings


def _bound_job(actor: str, settings: Settings) -> Job[Any]:
    """The job ``actor``, bound to the broker of ``settings`` (UnknownActorError if none)."""
    connect_broker(settings)
    return get_job(actor)


@click.command()
@click.argument("actor")
@payload_options()
@click.option("--delay", type=int, help="Deliver after this many milliseconds.")
@click.option("--idempotency-key", help="Skip the run if a run with this key already succeeded.")
def send(
    actor: str,
    payload: str,
    legacy_payload: str | None,
    delay: int | None,
    idempotency_key: str | None,
) -> None:
    """Validate a payload and enqueue it for ACTOR; print the message id.

    Bad input (unknown actor, invalid JSON, a payload that does not match the actor's schema)
    exits with status 2 and enqueues nothing.
    """
    data = parse_json_object(chosen_payload(payload, legacy_payload), option="--payload")
    settings = checked_settings(rabbitmq=True)
    with reported_errors():
        job = _bound_job(actor, settings)
        job.validate(data)
        message = job.send(data, delay=delay, idempotency_key=idempotency_key)
    click.echo(message.message_id)


@click.command()
@click.argument("actor")
@payload_options()
def run(actor: str, payload: str, legacy_payload: str | None) -> None:
    """Run ACTOR synchronously in this process and print its result (operators, debugging).

    Nothing goes through RabbitMQ; the job's own database work happens as in a worker.
    """
    data = parse_json_object(chosen_payload(payload, legacy_payload), option="--payload")
    settings = checked_settings(database=True)
    with reported_errors():
        job = _bound_job(actor, settings)
        result = job.run(job.validate(data))
    print_json(result)
