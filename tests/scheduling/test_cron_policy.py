"""Cron evaluation: day of week, names, timezones and the DST policy, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from periodiq import CronSpec

from yoked_actors.clock import zone_strict
from yoked_actors.jobs import JOBS
from yoked_actors.schedules import SCHEDULES
from yoked_actors.scheduling.cron import cron, fires_between, local_to_utc, next_fires


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def utcs(*texts: str) -> list[datetime]:
    return [utc(t) for t in texts]


# -- day of week --------------------------------------------------------------------------


def test_periodiq_as_shipped_never_matches_sunday_and_ours_does() -> None:
    sunday_midnight = datetime(2026, 3, 8, 0, 0)  # a Sunday
    assert not CronSpec.parse("@weekly").validate(sunday_midnight)  # the bug we fix
    assert cron("@weekly").validate(sunday_midnight)


@pytest.mark.parametrize(
    "spec", ["0 9 * * 0", "0 9 * * 7", "0 9 * * sun", "0 9 * * SUN", "@weekly"]
)
def test_sunday_spellings_fire_on_sundays_only(spec: str) -> None:
    fires = next_fires(cron(spec), utc("2026-03-02T00:00:00"), 4)
    assert [f.isoweekday() for f in fires] == [7, 7, 7, 7]
    assert fires[0].date().isoformat() == "2026-03-08"


def test_weekday_ranges_names_and_months() -> None:
    fires = next_fires(cron("30 8 * jan-feb mon-fri"), utc("2026-01-30T09:00:00"), 3)
    assert fires == utcs("2026-02-02T08:30:00", "2026-02-03T08:30:00", "2026-02-04T08:30:00")
    assert next_fires(cron("0 0 * * 6-7"), utc("2026-03-05T00:00:00"), 2) == utcs(
        "2026-03-07T00:00:00", "2026-03-08T00:00:00"
    )


def test_day_of_month_or_day_of_week_when_neither_starts_with_a_star() -> None:
    # Debian cron: the 13th of any month, or any Friday.
    fires = next_fires(cron("0 0 13 * fri"), utc("2026-03-01T00:00:00"), 4)
    assert fires == utcs(
        "2026-03-06T00:00:00",
        "2026-03-13T00:00:00",
        "2026-03-20T00:00:00",
        "2026-03-27T00:00:00",
    )
    # 13 April 2026 is a Monday: it fires for the day of month alone.
    april = fires_between(
        cron("0 0 13 * fri"), utc("2026-04-01T00:00:00"), utc("2026-04-30T00:00:00")
    )
    assert [f.day for f in april] == [3, 10, 13, 17, 24]


@pytest.mark.parametrize(
    ("spec", "dates"),
    [
        # A field starting with * is unrestricted for the rule, even when stepped: AND.
        ("0 9 */2 * 1-5", ["2026-12-01", "2026-12-03", "2026-12-07", "2026-12-09"]),
        ("0 9 1-31/2 * */1", ["2026-12-01", "2026-12-03", "2026-12-05", "2026-12-07"]),
        ("0 9 */10 * sat", ["2027-05-01", "2027-07-31", "2027-08-21", "2027-09-11"]),
        ("0 9 1,11,21,31 * */6", ["2027-01-31", "2027-02-21", "2027-03-21", "2027-04-11"]),
        # Neither starts with *: OR, even where a field lists every value.
        ("0 9 1-31/2 * 1-5", ["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"]),
        ("0 9 1-31/2 * 0-6", ["2026-12-01", "2026-12-02", "2026-12-03", "2026-12-04"]),
        ("0 9 13 * fri", ["2026-12-04", "2026-12-11", "2026-12-13", "2026-12-18"]),
    ],
)
def test_a_star_prefix_on_either_day_field_means_and(spec: str, dates: list[str]) -> None:
    fires = next_fires(cron(spec), utc("2026-12-01T00:00:00"), len(dates))
    assert [f.date().isoformat() for f in fires] == dates


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("61 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day of month"),
        ("* * * 13 *", "month"),
        ("* * * * 8", "day of week"),
        ("* * * *", "5 fields"),
        ("@sometimes", "unknown cron shortcut"),
        ("a * * * *", "minute"),
    ],
)
def test_bad_cron_is_refused_naming_the_field(spec: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        cron(spec)


def test_unknown_timezone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown IANA timezone 'Mars/Olympus'"):
        cron("0 9 * * *", "Mars/Olympus")


# -- timezones and DST ----------------------------------------------------------------------


def test_schedule_reads_its_own_timezone_not_the_process_one() -> None:
    assert next_fires(cron("0 9 * * *", "Asia/Kathmandu"), utc("2026-01-01T00:00:00"), 1) == [
        utc("2026-01-01T03:15:00")
    ]


@pytest.mark.parametrize(
    ("tz", "spec", "after", "expected"),
    [
        # America/New_York springs forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z).
        (
            "America/New_York",
            "30 2 * * *",
            "2026-03-07T00:00:00",
            ["2026-03-07T07:30:00", "2026-03-08T07:00:00", "2026-03-09T06:30:00"],
        ),
        # Every 15 min through the gap: 02:00-02:45 do not exist; they fire once at 03:00 EDT.
        (
            "America/New_York",
            "*/15 1-3 * * *",
            "2026-03-08T06:40:00",
            ["2026-03-08T06:45:00", "2026-03-08T07:00:00", "2026-03-08T07:15:00"],
        ),
        # Europe/London springs forward 2026-03-29 01:00 GMT -> 02:00 BST (01:00Z).
        (
            "Europe/London",
            "30 1 * * *",
            "2026-03-28T00:00:00",
            ["2026-03-28T01:30:00", "2026-03-29T01:00:00", "2026-03-30T00:30:00"],
        ),
        # Australia/Lord_Howe springs forward 2026-10-04 02:00 -> 02:30 (+10:30 -> +11).
        (
            "Australia/Lord_Howe",
            "15 2 * * *",
            "2026-10-02T00:00:00",
            ["2026-10-02T15:45:00", "2026-10-03T15:30:00", "2026-10-04T15:15:00"],
        ),
    ],
)
def test_spring_forward_a_missing_time_fires_once_at_the_end_of_the_gap(
    tz: str, spec: str, after: str, expected: list[str]
) -> None:
    assert next_fires(cron(spec, tz), utc(after), len(expected)) == utcs(*expected)


@pytest.mark.parametrize(
    ("tz", "spec", "after", "expected"),
    [
        # America/New_York falls back 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 happens twice.
        (
            "America/New_York",
            "30 1 * * *",
            "2026-10-31T00:00:00",
            ["2026-10-31T05:30:00", "2026-11-01T05:30:00", "2026-11-02T06:30:00"],
        ),
        # Fixed times inside the repeated hour: 01:00 and 01:30 fire once each (EDT).
        (
            "America/New_York",
            "0,30 1 * * *",
            "2026-11-01T04:30:00",
            ["2026-11-01T05:00:00", "2026-11-01T05:30:00", "2026-11-02T06:00:00"],
        ),
        # Europe/London falls back 2026-10-25 02:00 BST -> 01:00 GMT: 01:30 twice.
        (
            "Europe/London",
            "30 1 * * *",
            "2026-10-24T00:00:00",
            ["2026-10-24T00:30:00", "2026-10-25T00:30:00", "2026-10-26T01:30:00"],
        ),
        # Australia/Lord_Howe falls back 2026-04-05 02:00 -> 01:30 (+11 -> +10:30).
        (
            "Australia/Lord_Howe",
            "45 1 * * *",
            "2026-04-03T00:00:00",
            ["2026-04-03T14:45:00", "2026-04-04T14:45:00", "2026-04-05T15:15:00"],
        ),
    ],
)
def test_fall_back_a_repeated_time_fires_once_at_its_first_occurrence(
    tz: str, spec: str, after: str, expected: list[str]
) -> None:
    assert next_fires(cron(spec, tz), utc(after), len(expected)) == utcs(*expected)


@pytest.mark.parametrize(
    ("tz", "spec", "after", "expected"),
    [
        # A wildcard hour runs on real time: 01:00 EDT, 01:00 EST, 02:00 EST.
        (
            "America/New_York",
            "0 * * * *",
            "2026-11-01T04:30:00",
            ["2026-11-01T05:00:00", "2026-11-01T06:00:00", "2026-11-01T07:00:00"],
        ),
        # A stepped hour (starts with *) too: 00:00, 02:00 EST, 04:00 EST.
        (
            "America/New_York",
            "0 */2 * * *",
            "2026-11-01T03:30:00",
            ["2026-11-01T04:00:00", "2026-11-01T07:00:00", "2026-11-01T09:00:00"],
        ),
        # A wildcard minute at a fixed hour: every 20 minutes through both passes of 01:xx.
        (
            "America/New_York",
            "*/20 1 * * *",
            "2026-11-01T05:10:00",
            [
                "2026-11-01T05:20:00",
                "2026-11-01T05:40:00",
                "2026-11-01T06:00:00",
                "2026-11-01T06:20:00",
                "2026-11-01T06:40:00",
                "2026-11-02T06:00:00",
            ],
        ),
        # Nothing to fire inside a gap: 02:xx does not exist on 2026-03-08 in New York.
        (
            "America/New_York",
            "*/30 2 * * *",
            "2026-03-07T06:00:00",
            ["2026-03-07T07:00:00", "2026-03-07T07:30:00", "2026-03-09T06:00:00"],
        ),
    ],
)
def test_wildcard_minute_or_hour_runs_on_real_time(
    tz: str, spec: str, after: str, expected: list[str]
) -> None:
    assert not cron(spec, tz).fixed_time
    assert next_fires(cron(spec, tz), utc(after), len(expected)) == utcs(*expected)


@pytest.mark.parametrize(
    ("spec", "fixed"),
    [
        ("30 1 * * *", True),
        ("0,30 1-3 * * *", True),
        ("0 1-23/2 * * *", True),  # a stepped range that does not start with *: fixed
        ("@daily", True),
        ("* 1 * * *", False),
        ("*/15 1 * * *", False),
        ("0 * * * *", False),
        ("0 */2 * * *", False),
        ("@hourly", False),
    ],
)
def test_fixed_time_means_neither_minute_nor_hour_starts_with_a_star(
    spec: str, fixed: bool
) -> None:
    assert cron(spec, "America/New_York").fixed_time is fixed


@pytest.mark.parametrize(
    ("tz", "day_start", "day_end", "minutes"),
    [
        ("America/New_York", "2026-03-08T05:00:00", "2026-03-09T04:00:00", 23 * 60),
        ("America/New_York", "2026-11-01T04:00:00", "2026-11-02T05:00:00", 25 * 60),
        ("Australia/Lord_Howe", "2026-10-03T13:30:00", "2026-10-04T13:00:00", 23 * 60 + 30),
        ("Australia/Lord_Howe", "2026-04-04T13:00:00", "2026-04-05T13:30:00", 24 * 60 + 30),
    ],
)
def test_every_minute_on_a_dst_day_fires_once_per_real_minute(
    tz: str, day_start: str, day_end: str, minutes: int
) -> None:
    """``* * * * *`` runs on real time: 23 h of minutes on the spring day (nothing inside the
    gap), 25 h on the fall day (both passes of the repeated hour), each instant once."""
    fires = fires_between(cron("* * * * *", tz), utc(day_start), utc(day_end))
    assert len(fires) == len(set(fires)) == minutes
    assert fires == sorted(fires)


def test_local_to_utc_gap_and_overlap() -> None:
    new_york = zone_strict("America/New_York")
    assert local_to_utc(datetime(2026, 3, 8, 2, 30), new_york) == utc("2026-03-08T07:00:00")
    assert local_to_utc(datetime(2026, 11, 1, 1, 30), new_york) == utc("2026-11-01T05:30:00")
    assert local_to_utc(datetime(2026, 7, 1, 9, 0), new_york) == utc("2026-07-01T13:00:00")


# -- the cron table -------------------------------------------------------------------------


def test_every_schedule_entry_parses_and_has_a_unique_name() -> None:
    names = [s.name for s in SCHEDULES]
    assert len(names) == len(set(names))
    for schedule in SCHEDULES:
        assert next_fires(schedule.spec, utc("2026-03-08T06:00:00"), 1), schedule.name


def test_every_schedule_entry_names_a_declared_job() -> None:
    missing = sorted({s.actor_name for s in SCHEDULES} - set(JOBS))
    assert missing == [], f"schedules name undeclared actors: {missing}"
    for schedule in SCHEDULES:  # and each entry's payload is one its job accepts
        JOBS[schedule.actor_name].validate(schedule.payload)


def test_periodiq_style_periodic_option_joins_the_table() -> None:
    """Actors declared with periodiq's `periodic` option are scheduled too, read in the
    timezone of a zoned spec (UTC for a plain periodiq CronSpec), Sunday fixed."""
    from yoked_actors.scheduling.table import all_schedules

    class Actor:
        def __init__(self, name: str, options: dict[str, object]) -> None:
            self.actor_name, self.options = name, options

    table = all_schedules(
        [
            Actor("demo.weekly", {"periodic": CronSpec.parse("0 0 * * 0")}),
            Actor("demo.london", {"periodic": cron("0 9 * * sun", "Europe/London")}),
            Actor("demo.plain", {}),
            Actor(SCHEDULES[0].actor_name, {"periodic": cron("* * * * *")}),  # already listed
        ]
    )
    extra = {s.name: s for s in table[len(SCHEDULES) :]}
    assert sorted(extra) == ["demo.london", "demo.weekly"]
    assert next_fires(extra["demo.weekly"].spec, utc("2026-03-02T00:00:00"), 1) == [
        utc("2026-03-08T00:00:00")
    ]
    assert extra["demo.london"].timezone == "Europe/London"
    assert next_fires(extra["demo.london"].spec, utc("2026-03-30T00:00:00"), 1) == [
        utc("2026-04-05T08:00:00")  # 09:00 BST
    ]
