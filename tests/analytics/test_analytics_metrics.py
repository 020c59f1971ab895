"""analytics.aggregate_daily against real PostgreSQL on a data set with known answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from analytics_support import DAY, EXPECTED, seed, stored, u
from click.testing import CliRunner
from sqlalchemy import text

from yoked_actors.analytics.store import read_day
from yoked_actors.cli import main
from yoked_actors.db import session_scope
from yoked_actors.jobs import get_job

pytestmark = pytest.mark.usefixtures("clean_db")


def aggregate(**payload: object) -> dict[str, object]:
    result: dict[str, object] = get_job("analytics.aggregate_daily").run(payload)
    return result


def test_each_metric_equals_the_hand_counted_value() -> None:
    seed()
    aggregate(day=DAY.isoformat(), settle_days=0)
    got = {(m, d): v for (_, m, d), v in stored(DAY).items()}
    assert set(got) == set(EXPECTED)
    for key, (value, numerator, denominator) in EXPECTED.items():
        assert got[key][1:] == (numerator, denominator), key
        assert got[key][0] == pytest.approx(value), key


def test_a_rerun_changes_nothing() -> None:
    seed()
    first = aggregate(day=DAY.isoformat())
    before = stored(with_time=True)
    again = aggregate(day=DAY.isoformat())
    assert first["rows_changed"] and again["rows_changed"] == 0
    assert stored(with_time=True) == before  # not even computed_at moved


def test_default_day_is_yesterday_utc_and_the_8_days_before_are_recomputed() -> None:
    seed()
    # 00:30 UTC on the day after DAY; in Auckland it is already the afternoon of DAY + 1.
    summary = aggregate(now=(datetime(2026, 3, 11, 0, 30, tzinfo=UTC)).isoformat())
    assert summary["day"] == DAY.isoformat() and summary["days"] == 9
    days = {d for d, _, _ in stored()}
    assert days == {DAY - timedelta(days=n) for n in range(9)}


def test_late_answers_settle_on_the_next_nights_rerun() -> None:
    seed()
    aggregate(day=DAY.isoformat(), settle_days=0)
    with session_scope() as session:  # offer 1 becomes mutual the next day
        session.execute(
            text(
                "UPDATE match_offers SET b_response = 'accepted', status = 'accepted' WHERE id = 1"
            )
        )
    aggregate(day=(DAY + timedelta(days=1)).isoformat())  # the next night, settling DAY
    got = stored(DAY)
    assert got[(DAY, "offers_mutual", "")][0] == 2
    assert got[(DAY, "offers_accepted_one_side", "")][0] == 1
    assert got[(DAY, "mutual_rate", "")][1:] == (2, 5)


def test_a_dimension_without_data_any_more_is_removed() -> None:
    seed()
    aggregate(day=DAY.isoformat(), settle_days=0)
    with session_scope() as session:
        session.execute(text("DELETE FROM match_offers WHERE timezone = 'America/New_York'"))
    aggregate(day=DAY.isoformat(), settle_days=0)
    dimensions = {d for (_, _, d) in stored(DAY)}
    assert "timezone=America/New_York" not in dimensions
    assert stored(DAY)[(DAY, "offers_generated", "")][0] == 3


def test_an_empty_day_gives_zero_counts_and_null_rates() -> None:
    aggregate(day="2026-01-01", settle_days=0)
    rows = {m: v for (_, m, d), v in stored().items()}
    rates = {
        "retention_d1",
        "retention_d7",
        "acceptance_rate",
        "mutual_rate",
        "flagged_rate",
        "delivery_rate",
    }
    assert set(rows) == {m for m, _ in EXPECTED}
    for metric, (value, numerator, denominator) in rows.items():
        if metric in rates:
            assert (value, numerator, denominator) == (None, 0, 0), metric
        else:
            assert (value, numerator, denominator) == (0, None, None), metric


def test_a_backfill_equals_day_by_day_runs_and_overlaps_safely(
    monkeypatch: pytest.MonkeyPatch, clean_db: str
) -> None:
    seed()
    monkeypatch.setenv("DATABASE_URL", clean_db)
    first, last = DAY - timedelta(days=8), DAY + timedelta(days=1)
    result = CliRunner().invoke(
        main, ["analytics", "backfill", "--from", first.isoformat(), "--to", last.isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert "[10/10] 2026-03-11" in result.output
    backfilled = stored()
    # Overlapping a second backfill changes nothing.
    again = CliRunner().invoke(
        main, ["analytics", "backfill", "--from", DAY.isoformat(), "--to", last.isoformat()]
    )
    assert again.exit_code == 0 and "0 rows changed" in again.output
    assert stored() == backfilled
    with session_scope() as session:
        session.execute(text("DELETE FROM daily_metrics"))
    day = first
    while day <= last:
        aggregate(day=day.isoformat(), settle_days=0)
        day += timedelta(days=1)
    assert stored() == backfilled


def test_show_prints_the_day_as_a_table_or_json(
    monkeypatch: pytest.MonkeyPatch, clean_db: str
) -> None:
    seed()
    aggregate(day=DAY.isoformat(), settle_days=0)
    monkeypatch.setenv("DATABASE_URL", clean_db)
    table = CliRunner().invoke(main, ["analytics", "show", "--day", DAY.isoformat()])
    assert table.exit_code == 0, table.output
    assert any(
        line.split()[:5] == ["retention_d1", "-", "0.5", "1", "2"]
        for line in table.output.splitlines()
    )
    assert "timezone=" not in table.output
    raw = CliRunner().invoke(
        main, ["analytics", "show", "--day", DAY.isoformat(), "--json", "--dimensions"]
    )
    shown = json.loads(raw.output)
    with session_scope() as session:
        assert len(shown["metrics"]) == len(read_day(session, DAY)) == len(EXPECTED)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backfill", "--from", "2026-03-10", "--to", "yesterday"], "--to 'yesterday' is not"),
        (["backfill", "--from", "2026-03-10", "--to", "2026-03-01"], "is after --to"),
        (["show", "--day", "10/03/2026"], "--day '10/03/2026' is not a date"),
    ],
)
def test_bad_dates_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["analytics", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_state_changes_are_stamped_for_the_daily_counts() -> None:
    seed()
    with session_scope() as session:
        now = session.execute(text("SELECT now()")).scalar_one()
    with session_scope() as session:
        session.execute(
            text("UPDATE users SET status = 'suspended' WHERE id = :id"), {"id": u("old2")}
        )
        session.execute(text("UPDATE push_tokens SET active = false WHERE token = 't3'"))
        session.execute(
            text(
                "UPDATE notifications SET status = 'dropped' "
                "WHERE kind = 'daily_matches' AND status = 'sent'"
            )
        )
        # A row already in the state keeps its stamp when touched again.
        session.execute(
            text("UPDATE users SET status = 'suspended' WHERE id = :id"), {"id": u("old")}
        )
    with session_scope() as session:
        stamps = session.execute(
            text(
                "SELECT (SELECT suspended_at FROM users WHERE id = :new),"
                " (SELECT suspended_at FROM users WHERE id = :old),"
                " (SELECT deactivated_at FROM push_tokens WHERE token = 't3'),"
                " (SELECT dropped_at FROM notifications WHERE kind = 'daily_matches'"
                "  AND sent_at IS NOT NULL)"
            ),
            {"new": u("old2"), "old": u("old")},
        ).one()
    assert stamps[0] >= now and stamps[2] >= now and stamps[3] >= now
    assert stamps[1] == datetime(2026, 3, 10, tzinfo=UTC)
