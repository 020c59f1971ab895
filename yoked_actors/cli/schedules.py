"""`yoked schedules`: what will fire and when (pure computation), and what fired (the ledger)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from yoked_actors.cli.common import BadInput, database_session, declare_jobs_offline, print_json
from yoked_actors.clock import utc_now, zone_strict

_DURATION = re.compile(r"^(\d+)([mhd])$")


def parse_instant(raw: str, option: str) -> datetime:
    """An ISO 8601 instant with an offset (``2026-03-08T06:00:00Z``), or BadInput."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise BadInput(
            f"{option} {raw!r} is not an ISO 8601 instant, like 2026-03-08T06:00:00Z"
        ) from None
    if value.tzinfo is None:
        raise BadInput(f"{option} {raw!r} needs an offset or Z, like 2026-03-08T06:00:00Z")
    return value.astimezone(UTC)


def _declared_schedules() -> tuple[list[Any], set[str]]:
    """Every schedule (the table and periodiq-style actors) and the declared actor names,
    without connecting to anything (actors are declared on an in-memory broker)."""
    from yoked_actors.jobs import JOBS
    from yoked_actors.scheduling.scheduler import all_schedules

    declare_jobs_offline()
    return all_schedules(job.actor for job in JOBS.values()), set(JOBS)


def describe(schedule: Any, at: datetime, count: int, declared: set[str]) -> dict[str, Any]:
    """One schedule as `yoked schedules --json` prints it."""
    from yoked_actors.scheduling.cron import next_fires

    entry: dict[str, Any] = {
        "name": schedule.name,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "actor": schedule.actor_name,
        "actor_declared": schedule.actor_name in declared,
        "catch_up_s": int(schedule.catch_up.total_seconds()),
        "catch_up_mode": schedule.catch_up_mode,
    }
    try:
        spec = schedule.spec
    except ValueError as error:
        entry["error"] = str(error)
        entry["next"] = []
        return entry
    tz = zone_strict(spec.timezone)
    entry["next"] = [
        {"utc": fire.isoformat().replace("+00:00", "Z"), "local": fire.astimezone(tz).isoformat()}
        for fire in next_fires(spec, at, count)
    ]
    return entry


@click.group(invoke_without_command=True)
@click.option("--at", "at_raw", help="List fires after this ISO instant (default: now).")
@click.option(
    "--count",
    default=3,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Fires per schedule.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def schedules(ctx: click.Context, at_raw: str | None, count: int, as_json: bool) -> None:
    """List each schedule: cron, timezone and its next fire instants, in UTC and local time.

    Pure computation: needs no database or broker. A schedule whose actor is not declared is
    listed with actor_declared=false (the scheduler records its fires as missed).
    """
    if ctx.invoked_subcommand is not None:
        return
    at = parse_instant(at_raw, "--at") if at_raw else utc_now()
    table, declared = _declared_schedules()
    entries = [describe(schedule, at, count, declared) for schedule in table]
    if as_json:
        print_json({"at": at.isoformat().replace("+00:00", "Z"), "schedules": entries})
        return
    click.echo(f"next fires after {at.isoformat()}")
    for entry in entries:
        flag = "" if entry["actor_declared"] else "  [actor not declared]"
        click.echo(
            f"\n{entry['name']}: {entry['cron']} ({entry['timezone']}) -> {entry['actor']}"
            f"  catch-up {entry['catch_up_s']} s, {entry['catch_up_mode']}{flag}"
        )
        if "error" in entry:
            click.echo(f"  invalid: {entry['error']}")
        for fire in entry["next"]:
            click.echo(f"  {fire['utc']}   {fire['local']}")


def _since(raw: str) -> datetime:
    match = _DURATION.match(raw.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        delta = {
            "m": timedelta(minutes=amount),
            "h": timedelta(hours=amount),
            "d": timedelta(days=amount),
        }[unit]
        return utc_now() - delta
    return parse_instant(raw, "--since")


@schedules.command()
@click.option(
    "--since",
    "since_raw",
    default="24h",
    show_default=True,
    help="Fires due since: an ISO instant or a duration back from now (30m, 24h, 7d).",
)
@click.option("--schedule", help="Only this schedule.")
@click.option(
    "--status", type=click.Choice(["claimed", "enqueued", "missed"]), help="Only this status."
)
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def fires(
    since_raw: str, schedule: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """List the fire ledger, latest first: enqueued (with message id and lateness), missed
    (with why). Needs DATABASE_URL."""
    from dataclasses import asdict

    from yoked_actors.scheduling import store

    since = _since(since_raw)
    with database_session() as session:
        rows = store.list_fires(
            session, since=since, schedule=schedule, status=status, limit=limit
        )
    if as_json:
        print_json(
            [
                {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(row).items()}
                for row in rows
            ]
        )
        return
    if not rows:
        click.echo(f"no fires since {since.isoformat()}")
        return
    for row in rows:
        lateness = "" if row.lateness_ms is None else f"{row.lateness_ms / 1000:.1f} s late"
        click.echo(
            f"{row.due_at.astimezone(UTC).isoformat()}  {row.schedule:<24} {row.status:<9} "
            f"{lateness:<14} {row.message_id or ''} {row.detail or ''}".rstrip()
        )
