"""`yoked db ...`: schema management."""

from __future__ import annotations

import click

from yoked_actors.cli.common import checked_settings, print_json, styled


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


def _revisions() -> tuple[set[str], set[str], set[str]]:
    from yoked_actors import migrate

    return migrate.revisions(checked_settings(database=True).require_database_url())


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def current(as_json: bool) -> None:
    """The Alembic revisions the database is at, and the heads of the code's migrations."""
    at, heads, missing = _revisions()
    if as_json:
        print_json({"current": sorted(at), "heads": sorted(heads), "at_heads": not missing})
        return
    click.echo(f"current: {' '.join(sorted(at)) or '(none: empty database)'}")
    click.echo(f"heads:   {' '.join(sorted(heads))}")


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def check(as_json: bool) -> None:
    """Exit 0 if the database is at every head, 1 if not (run: yoked db upgrade)."""
    _, _, missing = _revisions()
    if as_json:
        print_json({"at_heads": not missing, "missing": sorted(missing)})
    elif not missing:
        click.echo(styled("database is at heads", fg="green"))
    else:
        message = (
            f"database is not at heads: missing {' '.join(sorted(missing))} (run: yoked db upgrade)"
        )
        click.echo(styled(message, fg="red"))
    if missing:
        raise SystemExit(1)
