"""`yoked runs`: the run history (list, show, stats) and replay of failed or dead runs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from sqlalchemy.orm import Session

from yoked_actors.cli.common import (
    BadInput,
    checked_settings,
    connect_broker,
    database_session,
    print_json,
    print_table,
)
from yoked_actors.clock import utc_now
from yoked_actors.runs.events import STATUS_RANK

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(raw: str | None, *, now: datetime | None = None) -> datetime | None:
    """``30m``, ``2h``, ``7d``, ``1w`` (ago) or an ISO 8601 time (UTC unless it says)."""
    if raw is None:
        return None
    now = now or utc_now()
    match = _RELATIVE.match(raw.strip())
    if match:
        return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise BadInput(
            f"--since {raw!r} is not a duration or a time; examples: 2h, 7d, 2026-03-01T09:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    print_table([c.upper() for c in columns], ([_cell(row[c]) for c in columns] for row in rows))


status_choice = click.Choice(sorted(STATUS_RANK))
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@click.group(invoke_without_command=True)
@click.option("--actor", help="Only this actor (e.g. matching.expire_offers).")
@click.option("--status", type=status_choice, help="Only runs with this status.")
@click.option("--since", help="Updated since: 30m, 2h, 7d or an ISO time.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@json_option
@click.pass_context
def runs(
    ctx: click.Context,
    actor: str | None,
    status: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The run history: every message's status, attempts, timings and error.

    Without a subcommand, lists the most recent runs matching the filters.
    """
    if ctx.invoked_subcommand is not None:
        return
    from yoked_actors.runs.history import run_as_dict
    from yoked_actors.runs.store import list_runs

    when = parse_since(since)
    with database_session() as session:
        rows = [
            run_as_dict(r)
            for r in list_runs(session, actor=actor, status=status, since=when, limit=limit)
        ]
    if as_json:
        print_json(rows)
    else:
        _print_table(
            rows,
            [
                "message_id",
                "actor",
                "status",
                "attempts",
                "finished_at",
                "duration_ms",
                "error_type",
            ],
        )


@runs.command()
@click.argument("message_id")
@json_option
def show(message_id: str, as_json: bool) -> None:
    """One run (by message id, or a unique prefix of it): attempts, timings and error."""
    from yoked_actors.runs.history import run_as_dict
    from yoked_actors.runs.store import get_run

    with database_session() as session:
        run = get_run(session, message_id)
        if run is None:
            raise BadInput(f"no run has the message id {message_id!r}, or several start with it")
        row = run_as_dict(run, full=True)
    if as_json:
        print_json(row)
    else:
        width = max(len(k) for k in row)
        for key, value in row.items():
            click.echo(f"{key.ljust(width)}  {_cell(value)}")


@runs.command()
@click.argument("message_id", required=False)
@click.option(
    "--status", type=click.Choice(["failed", "dead"]), help="Bulk: runs with this status."
)
@click.option("--actor", help="Bulk: only this actor.")
@click.option("--since", help="Bulk: updated since (30m, 2h, 7d or an ISO time).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--dry-run", is_flag=True, help="List what would be replayed; enqueue nothing.")
@json_option
def replay(
    message_id: str | None,
    status: str | None,
    actor: str | None,
    since: str | None,
    limit: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Re-enqueue a failed or dead run (MESSAGE_ID) with its retries reset, or every run
    matching --status / --actor / --since.

    Each replay is a new message whose run names the original in replay_of. Exit status 1 if
    any run could not be replayed (the reason is printed).
    """
    from yoked_actors.runs.history import Replayed, replay_run

    if message_id and (status or actor or since):
        raise BadInput("give either a MESSAGE_ID or filters (--status/--actor/--since), not both")
    if not message_id and not (status or actor or since):
        raise BadInput("give a MESSAGE_ID, or at least one of --status, --actor, --since")
    when = parse_since(since)
    connect_broker(checked_settings(rabbitmq=True))
    with database_session() as session:
        selected = _runs_to_replay(session, message_id, status, actor, when, limit)
        if dry_run:
            results = [Replayed(r.message_id) for r in selected]
        else:
            results = [replay_run(r) for r in selected]
    _print_replays(results, as_json)
    if any(r.error for r in results):
        raise SystemExit(1)


def _runs_to_replay(
    session: Session,
    message_id: str | None,
    status: str | None,
    actor: str | None,
    since: datetime | None,
    limit: int,
) -> list[Any]:
    """The run MESSAGE_ID (BadInput if none or several match), or the runs matching filters."""
    from yoked_actors.runs.store import get_run, replayable_runs

    if not message_id:
        return replayable_runs(session, status=status, actor=actor, since=since, limit=limit)
    run = get_run(session, message_id)
    if run is None:
        raise BadInput(f"no run has the message id {message_id!r}, or several start with it")
    return [run]


def _print_replays(results: list[Any], as_json: bool) -> None:
    rows = [vars(r) for r in results]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        outcome = row["new_message_id"] or (
            f"not replayed: {row['error']}" if row["error"] else "would replay"
        )
        click.echo(f"{row['original']}  {outcome}")
    click.echo(
        f"{sum(1 for r in results if r.new_message_id)} replayed, "
        f"{sum(1 for r in results if r.error)} not replayable"
    )


@runs.command()
@click.option("--since", default="24h", show_default=True, help="Window: 30m, 2h, 7d or ISO time.")
@click.option("--actor", help="Only this actor.")
@json_option
def stats(since: str, actor: str | None, as_json: bool) -> None:
    """Per actor over a window: runs by status, success / failure rates, p50 / p95 duration."""
    from yoked_actors.runs.store import run_stats

    when = parse_since(since)
    assert when is not None
    with database_session() as session:
        rows = run_stats(session, since=when, actor=actor)
    if as_json:
        print_json(rows)
    else:
        _print_table(
            rows,
            [
                "actor",
                "runs",
                "succeeded",
                "failed",
                "dead",
                "skipped",
                "in_progress",
                "success_rate",
                "p50_ms",
                "p95_ms",
            ],
        )
