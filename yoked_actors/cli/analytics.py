"""`yoked analytics`: backfill a range of days into `daily_metrics`, show a day's metrics."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import click

from yoked_actors.cli.common import BadInput, database_session, print_json, print_table

#: A backfill longer than this is more likely a typo in a year than a wish.
MAX_BACKFILL_DAYS = 3_660


def parse_day(raw: str, option: str) -> date:
    """An ISO date (2026-03-01), or BadInput naming the option."""
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise BadInput(f"{option} {raw!r} is not a date; example: 2026-03-01") from None


@click.group()
def analytics() -> None:
    """Daily product metrics (daily_metrics): backfill and inspect."""


@analytics.command()
@click.option("--from", "first_raw", required=True, metavar="DATE", help="First UTC day (ISO).")
@click.option("--to", "last_raw", required=True, metavar="DATE", help="Last UTC day, included.")
def backfill(first_raw: str, last_raw: str) -> None:
    """Compute every UTC day from --from to --to, one transaction per day, with progress.

    Safe to rerun or to overlap with the nightly job: rows are upserted, unchanged ones untouched.
    """
    from yoked_actors.analytics.daily import aggregate_day

    first, last = parse_day(first_raw, "--from"), parse_day(last_raw, "--to")
    if first > last:
        raise BadInput(f"--from {first} is after --to {last}")
    total = (last - first).days + 1
    if total > MAX_BACKFILL_DAYS:
        raise BadInput(f"{total} days is more than {MAX_BACKFILL_DAYS}; split the range")
    day, started = first, time.perf_counter()
    for index in range(1, total + 1):
        day_started = time.perf_counter()
        with database_session() as session:
            metrics, changed = aggregate_day(session, day)
        click.echo(
            f"[{index}/{total}] {day}  {metrics} metrics, {changed} rows changed, "
            f"{time.perf_counter() - day_started:.2f} s"
        )
        day += timedelta(days=1)
    click.echo(f"done: {total} days in {time.perf_counter() - started:.1f} s")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))
    return str(value)


@analytics.command()
@click.option("--day", "day_raw", metavar="DATE", help="UTC day (ISO); default yesterday.")
@click.option("--dimensions", is_flag=True, help="Also the per-timezone / per-kind rows.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def show(day_raw: str | None, dimensions: bool, as_json: bool) -> None:
    """The stored metrics of one UTC day (value, numerator, denominator)."""
    from yoked_actors.analytics.daily import yesterday_utc
    from yoked_actors.analytics.store import read_day

    day = parse_day(day_raw, "--day") if day_raw else yesterday_utc()
    with database_session() as session:
        rows = read_day(session, day, dimensions=dimensions)
    if as_json:
        print_json({"day": day.isoformat(), "metrics": rows})
        return
    if not rows:
        click.echo(
            f"no metrics stored for {day}; run: yoked analytics backfill --from {day} --to {day}"
        )
        return
    columns = ["metric", "dimension", "value", "numerator", "denominator"]
    cells = [[_cell(r[c]) if c != "dimension" else r[c] or "-" for c in columns] for r in rows]
    click.echo(f"{day} (UTC)")
    print_table([c.upper() for c in columns], cells)
