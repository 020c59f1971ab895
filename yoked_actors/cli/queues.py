"""`yoked queues`: each work queue's depth with its ``.DQ`` (delayed retries) and ``.XQ``
(dead letters).

Through RabbitMQ's management HTTP API when ``RABBITMQ_MANAGEMENT_URL`` is set (ready and
unacked counts), otherwise through passive declares over AMQP (``RABBITMQ_URL``), which give the
ready count of each queue and leave the broker unchanged.
"""

from __future__ import annotations

from typing import Any

import click

from yoked_actors.cli.common import checked_settings, print_json, print_table


def _amqp_depths(url: str) -> dict[str, Any]:
    """Ready counts by passive declare; a queue not declared yet is reported as such."""
    import pika
    import pika.exceptions

    from yoked_actors.queues import Queue

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        rows = []
        for queue in Queue:
            name = str(queue.value)
            counts: dict[str, int | None] = {}
            for suffix in ("", ".DQ", ".XQ"):
                channel = connection.channel()
                try:
                    declared = channel.queue_declare(name + suffix, passive=True)
                    counts[suffix] = declared.method.message_count
                    channel.close()
                except pika.exceptions.ChannelClosedByBroker:
                    counts[suffix] = None  # 404: not declared yet
            rows.append(
                {
                    "name": name,
                    "ready": counts[""],
                    "unacked": None,
                    "delayed_ready": counts[".DQ"],
                    "dead_ready": counts[".XQ"],
                    "declared": counts[""] is not None,
                }
            )
    finally:
        connection.close()
    return {"source": "amqp", "queues": rows, "error": None}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def queues(as_json: bool) -> None:
    """Depth of each work queue, its .DQ (delayed retries) and .XQ (dead letters).

    Uses the management API when RABBITMQ_MANAGEMENT_URL is set (adds unacked counts),
    otherwise passive declares over RABBITMQ_URL. Exit status 1 if the broker cannot be read.
    """
    settings = checked_settings(rabbitmq=True)
    amqp_url = settings.rabbitmq_urls[0]
    management = settings.console.management_url
    if management:
        from yoked_actors.console.queues import queue_depths

        result = {"source": "management", **queue_depths(management, amqp_url)}
        if result["error"]:
            raise click.ClickException(f"{result['error']} (RABBITMQ_MANAGEMENT_URL)")
    else:
        result = _amqp_depths(amqp_url)
    if as_json:
        print_json(result)
        return

    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    print_table(
        ["QUEUE", "READY", "UNACKED", "DQ_READY", "XQ_READY"],
        (
            [
                q["name"],
                cell(q["ready"]),
                cell(q["unacked"]),
                cell(q["delayed_ready"]),
                cell(q["dead_ready"]),
            ]
            for q in result["queues"]
        ),
    )
