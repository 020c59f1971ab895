"""`yoked send` and `yoked run`: one actor message, queued or run here."""

from __future__ import annotations

from typing import Any

import click

from yoked_actors.cli.common import parse_json_object, print_json, reported_errors
from yoked_actors.jobs import Job
from yoked_actors.settings import get_settings


def _load_job(actor: str) -> Job[Any]:
    from yoked_actors.actors import load_actors
    from yoked_actors.broker import setup_broker
    from yoked_actors.jobs import get_job

    setup_broker(get_settings())
    load_actors()
    return get_job(actor)


@click.command()
@click.argument("actor")
@click.option(
    "--json", "payload", default="{}", show_default=True, help="The payload, a JSON object."
)
@click.option("--delay", type=int, help="Deliver after this many milliseconds.")
@click.option("--idempotency-key", help="Skip the run if a run with this key already succeeded.")
def send(actor: str, payload: str, delay: int | None, idempotency_key: str | None) -> None:
    """Validate a payload and enqueue it for ACTOR; print the message id.

    Bad input (unknown actor, invalid JSON, a payload that does not match the actor's schema)
    exits with status 2 and enqueues nothing.
    """
    data = parse_json_object(payload)
    with reported_errors():
        get_settings().require_rabbitmq_url()
        job = _load_job(actor)
        job.validate(data)
        message = job.send(data, delay=delay, idempotency_key=idempotency_key)
    click.echo(message.message_id)


@click.command()
@click.argument("actor")
@click.option(
    "--json", "payload", default="{}", show_default=True, help="The payload, a JSON object."
)
def run(actor: str, payload: str) -> None:
    """Run ACTOR synchronously in this process and print its result (operators, debugging).

    Nothing goes through RabbitMQ; the job's own database work happens as in a worker.
    """
    data = parse_json_object(payload)
    with reported_errors():
        get_settings().require_database_url()
        job = _load_job(actor)
        result = job.run(job.validate(data))
    print_json(result)
