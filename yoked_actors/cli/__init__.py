"""The `yoked` command: one entry point for workers, the scheduler, operators and developers.

Each command group lives in its own module and is registered below.
"""

from __future__ import annotations

import click

from yoked_actors.cli import (
    analytics,
    console,
    database,
    dev,
    events,
    messages,
    moderate,
    moderation,
    outbox,
    processes,
    queues,
    runs,
    schedules,
)
from yoked_actors.cli.common import YokedGroup


@click.group(cls=YokedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="yoked-actors")
def main() -> None:
    """Yoked's background jobs: Dramatiq actors on RabbitMQ and PostgreSQL."""


main.add_command(processes.worker)
main.add_command(processes.scheduler)
main.add_command(database.db)
main.add_command(messages.send)
main.add_command(messages.run)
main.add_command(dev.dev)
main.add_command(runs.runs)
main.add_command(outbox.outbox)
main.add_command(events.emit)
main.add_command(events.contract)
main.add_command(moderate.moderate)
main.add_command(moderation.moderation)
main.add_command(schedules.schedules)
main.add_command(analytics.analytics)
main.add_command(console.console)
main.add_command(queues.queues)
