"""`yoked schedules`: what will fire and when (pure computation), and what fired (the ledger)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click

from yoked_actors.cli.common import (
    BadInput,
    database_session,
    declare_jobs_offline,
    parse_when,
    print_json,
)
from yoked_actors.clock import utc_now, zone_strict


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
    from yoked_actors.scheduling.table import all_schedules

    declare_jobs_offline()
    return all_schedules(job.actor for job in JOBS.values()), set(JOBS)


_PREVIEW_ACTOR = "(none: --cron preview)"


def _preview(cron_raw: str, timezone: str) -> Any:
    """A table entry for ``--cron``/``--timezone``, or BadInput naming what is wrong."""
    from yoked_actors.schedules import Schedule

    entry = Schedule(name="preview", cron=cron_raw, actor_name=_PREVIEW_ACTOR, timezone=timezone)
    try:
        entry.spec  # noqa: B018 (parse now: a bad expression is a one-line error)
    except ValueError as error:
        raise BadInput(f"--cron {cron_raw!r} --timezone {timezone!r}: {error}") from None
    return entry


def describe(schedule: Any, at: datetime, count: int, declared: set[str]) -> dict[str, Any]:
    """One schedule as `yoked schedules --json` prints it."""
    from yoked_actors.scheduling.cron import dst_note, next_fires, transitions

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
    fires = next_fires(spec, at, count)
    entry["next"] = []
    for fire in fires:
        listed = {"utc": _z(fire), "local": fire.astimezone(tz).isoformat()}
        note = dst_note(spec, fire, tz)
        if note:
            listed["dst"] = note
        entry["next"].append(listed)
    entry["transitions"] = [
        {
            "utc": _z(change.at),
            "clocks": "forward" if change.forward else "back",
            "from": f"{change.wall_before:%H:%M} {_offset(change.offset_before)}",
            "to": f"{change.wall_after:%H:%M} {_offset(change.offset_after)}",
        }
        for change in (transitions(tz, at, fires[-1]) if fires else [])
    ]
    return entry


def _z(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _offset(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _text_lines(entry: dict[str, Any]) -> list[str]:
    """An entry's fires, with each offset change printed where it falls among them."""
    changes = list(entry.get("transitions", []))
    lines = []
    for fire in entry["next"]:
        while changes and changes[0]["utc"] <= fire["utc"]:
            change = changes.pop(0)
            lines.append(
                f"  -- {change['utc']}  clocks go {change['clocks']}: "
                f"{change['from']} -> {change['to']}"
            )
        note = f"  ({fire['dst']})" if "dst" in fire else ""
        lines.append(f"  {fire['utc']}   {fire['local']}{note}")
    return lines


@click.group(invoke_without_command=True)
@click.option("--at", "at_raw", help="List fires after this ISO instant (default: now).")
@click.option(
    "--count",
    default=3,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Fires per schedule.",
)
@click.option(
    "--cron",
    "cron_raw",
    help="List this expression instead of the table (check an entry before adding it).",
)
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="The IANA timezone --cron is read in.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def schedules(
    ctx: click.Context,
    at_raw: str | None,
    count: int,
    cron_raw: str | None,
    timezone: str,
    as_json: bool,
) -> None:
    """List each schedule: cron, timezone and its next fire instants, in UTC and local time,
    with the DST changes of its timezone among them and how each affected fire relates to one.

    Pure computation: needs no database or broker. A schedule whose actor is not declared is
    listed with actor_declared=false (the scheduler records its fires as missed).
    """
    if ctx.invoked_subcommand is not None:
        return
    at = parse_instant(at_raw, "--at") if at_raw else utc_now()
    if cron_raw is not None:
        table, declared = [_preview(cron_raw, timezone)], {_PREVIEW_ACTOR}
    else:
        table, declared = _declared_schedules()
    entries = [describe(schedule, at, count, declared) for schedule in table]
    if as_json:
        print_json({"at": at.isoformat().replace("+00:00", "Z"), "schedules": entries})
        return
    click.echo(f"next fires after {at.isoformat()}")
    for entry in entries:
        if cron_raw is not None:
            click.echo(f"\n{entry['cron']} ({entry['timezone']})")
            for line in _text_lines(entry):
                click.echo(line)
            continue
        flag = "" if entry["actor_declared"] else "  [actor not declared]"
        click.echo(
            f"\n{entry['name']}: {entry['cron']} ({entry['timezone']}) -> {entry['actor']}"
            f"  catch-up {entry['catch_up_s']} s, {entry['catch_up_mode']}{flag}"
        )
        if "error" in entry:
            click.echo(f"  invalid: {entry['error']}")
        for line in _text_lines(entry):
            click.echo(line)


@schedules.command()
@click.option(
    "--since",
    "since_raw",
    default="24h",
    show_default=True,
    help="Fires due since: 15m, 2h, 7d (back from now) or an ISO time.",
)
@click.option("--until", "until_raw", help="Fires due before: 15m, 2h, 7d or an ISO time.")
@click.option("--schedule", help="Only this schedule.")
@click.option(
    "--status", type=click.Choice(["claimed", "enqueued", "missed"]), help="Only this status."
)
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def fires(
    since_raw: str,
    until_raw: str | None,
    schedule: str | None,
    status: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List the fire ledger, latest first: enqueued (with message id and lateness), missed
    (with why). Needs DATABASE_URL."""
    from dataclasses import asdict

    from yoked_actors.scheduling import store

    since = parse_when(since_raw)
    until = parse_when(until_raw, "--until")
    assert since is not None
    with database_session() as session:
        rows = store.list_fires(
            session, since=since, until=until, schedule=schedule, status=status, limit=limit
        )
    if as_json:
        print_json([asdict(row) for row in rows])
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
