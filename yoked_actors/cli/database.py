"""`yoked db ...`: schema management."""

from __future__ import annotations

import click

from yoked_actors.cli.common import checked_settings


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command()
@click.option("--revision", default="heads", show_default=True, help="Alembic target revision.")
def upgrade(revision: str) -> None:
    """Apply the migrations to DATABASE_URL (idempotent: safe to run at every deploy)."""
    from yoked_actors import migrate

    url = checked_settings(database=True).require_database_url()
    migrate.upgrade(url, revision)
    click.echo(f"database at {revision}")
