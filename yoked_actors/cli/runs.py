"""`yoked runs`: the run history (list, show, stats) and replay of failed or dead runs.

The filters (--actor, --status, --since, --until) may be given before or after the subcommand;
a subcommand applies them or refuses them, never ignores them.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy.orm import Session

from yoked_actors.cli.common import (
    BadInput,
    NotFound,
    checked_settings,
    connect_broker,
    database_session,
    parse_when,
    print_json,
    print_table,
)
from yoked_actors.runs.events import STATUS_RANK

FILTERS = ("actor", "status", "since", "until")


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
since_option = click.option("--since", help="Updated since: 15m, 2h, 7d or an ISO time.")
until_option = click.option("--until", help="Updated before: 15m, 2h, 7d or an ISO time.")


def _merged(ctx: click.Context, name: str, own: Any) -> Any:
    """``own`` (the subcommand's option) or the same option given to `yoked runs`."""
    given = (ctx.parent.obj or {}).get(name) if ctx.parent else None
    if given is not None and own is not None and given != own:
        raise BadInput(f"--{name.replace('_', '-')} given twice with different values")
    return own if own is not None else given


@click.group(invoke_without_command=True)
@click.option("--actor", help="Only this actor (e.g. matching.expire_offers).")
@click.option("--status", type=status_choice, help="Only runs with this status.")
@since_option
@until_option
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@json_option
@click.pass_context
def runs(
    ctx: click.Context,
    actor: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The run history: every message's status, attempts, timings and error.

    Without a subcommand, lists the most recent runs matching the filters.
    """
    if ctx.invoked_subcommand is not None:
        if ctx.get_parameter_source("limit") is not click.core.ParameterSource.DEFAULT:
            raise BadInput(f"--limit goes after the subcommand ({ctx.invoked_subcommand})")
        ctx.obj = {"actor": actor, "status": status, "since": since, "until": until}
        ctx.obj["as_json"] = as_json or None
        return
    from yoked_actors.runs.history import run_as_dict
    from yoked_actors.runs.store import list_runs

    since_at, until_at = parse_when(since), parse_when(until, "--until")
    with database_session() as session:
        found = list_runs(
            session, actor=actor, status=status, since=since_at, until=until_at, limit=limit
        )
        rows = [run_as_dict(r) for r in found]
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
@click.pass_context
def show(ctx: click.Context, message_id: str, as_json: bool) -> None:
    """One run (by message id, or a unique prefix of it): attempts, timings and error.

    Exit status 1 if no run (or several) match.
    """
    from yoked_actors.runs.history import run_as_dict
    from yoked_actors.runs.store import get_run

    given = [f"--{n}" for n in FILTERS if (ctx.parent and (ctx.parent.obj or {}).get(n))]
    if given:
        raise BadInput(f"`yoked runs show` takes a MESSAGE_ID, not filters ({', '.join(given)})")
    as_json = bool(_merged(ctx, "as_json", as_json or None))
    with database_session() as session:
        run = get_run(session, message_id)
        if run is None:
            raise NotFound(f"no run has the message id {message_id!r}, or several start with it")
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
@since_option
@until_option
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
@click.option("--dry-run", is_flag=True, help="List what would be replayed; enqueue nothing.")
@click.option("--yes", "-y", is_flag=True, help="Bulk: replay without asking.")
@json_option
@click.pass_context
def replay(
    ctx: click.Context,
    message_id: str | None,
    status: str | None,
    actor: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    dry_run: bool,
    yes: bool,
    as_json: bool,
) -> None:
    """Re-enqueue a failed or dead run (MESSAGE_ID) with its retries reset, or every run
    matching --status / --actor / --since / --until.

    Each replay is a new message whose run names the original in replay_of. A bulk replay
    asks for confirmation first (--yes skips it; without a terminal it needs --yes) and prints
    its progress on stderr. Exit status 1 if the run does not exist or any run could not be
    replayed (the reason is printed).
    """
    from yoked_actors.runs.history import Replayed, replay_run

    status = _merged(ctx, "status", status)
    actor, since = _merged(ctx, "actor", actor), _merged(ctx, "since", since)
    until = _merged(ctx, "until", until)
    as_json = bool(_merged(ctx, "as_json", as_json or None))
    if status not in (None, "failed", "dead"):
        raise BadInput(f"--status {status}: only failed or dead runs can be replayed")
    filtered = status or actor or since or until
    if message_id and filtered:
        raise BadInput("give either a MESSAGE_ID or filters (--status/--actor/--since), not both")
    if not message_id and not filtered:
        raise BadInput("give a MESSAGE_ID, or at least one of --status, --actor, --since, --until")
    since_at, until_at = parse_when(since), parse_when(until, "--until")
    connect_broker(checked_settings(rabbitmq=True))
    with database_session() as session:
        selected = _runs_to_replay(session, message_id, status, actor, since_at, until_at, limit)
        if dry_run:
            results = [Replayed(r.message_id) for r in selected]
        else:
            if not message_id:
                _confirm(len(selected), yes)
            results = []
            for index, run in enumerate(selected, 1):
                results.append(replay_run(run))
                if not message_id and (index % 100 == 0 or index == len(selected)):
                    click.echo(f"replayed {index}/{len(selected)}", err=True)
    _print_replays(results, as_json)
    if any(r.error for r in results):
        raise SystemExit(1)


def _confirm(count: int, yes: bool) -> None:
    """Ask before a bulk replay of ``count`` runs (BadInput without a terminal and --yes)."""
    if yes or count == 0:
        return
    if not sys.stdin.isatty():
        raise BadInput(
            f"this would replay {count} runs; no terminal to confirm on: add --yes "
            "(or --dry-run to see them)"
        )
    click.confirm(f"Replay {count} runs?", abort=True, err=True)


def _runs_to_replay(
    session: Session,
    message_id: str | None,
    status: str | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[Any]:
    """The run MESSAGE_ID (NotFound if none or several match), or the runs matching filters."""
    from yoked_actors.runs.store import get_run, replayable_runs

    if not message_id:
        return replayable_runs(
            session, status=status, actor=actor, since=since, until=until, limit=limit
        )
    run = get_run(session, message_id)
    if run is None:
        raise NotFound(f"no run has the message id {message_id!r}, or several start with it")
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
@click.option("--since", help="Window start: 15m, 2h, 7d or an ISO time.  [default: 24h]")
@until_option
@click.option("--actor", help="Only this actor.")
@click.option("--status", type=status_choice, help="Only runs with this status.")
@json_option
@click.pass_context
def stats(
    ctx: click.Context,
    since: str | None,
    until: str | None,
    actor: str | None,
    status: str | None,
    as_json: bool,
) -> None:
    """Per actor over a window: runs by status, success / failure rates, p50 / p95 duration."""
    from yoked_actors.runs.store import run_stats

    since_at = parse_when(_merged(ctx, "since", since) or "24h")
    until_at = parse_when(_merged(ctx, "until", until), "--until")
    actor, status = _merged(ctx, "actor", actor), _merged(ctx, "status", status)
    as_json = bool(_merged(ctx, "as_json", as_json or None))
    assert since_at is not None
    with database_session() as session:
        rows = run_stats(session, since=since_at, until=until_at, actor=actor, status=status)
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
