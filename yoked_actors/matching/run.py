"""One generation run as a pure function: :class:`RunInput` in, :class:`Offers` out
(docs/matching.md).

:func:`build_input` turns the rows the store read into arrays and quotas; :func:`decide` finds
the candidates, scores them and selects the offers; :func:`daily_notices` and :func:`outcome`
say what to notify and what to record. Nothing here touches the database, and the same input
always gives the same offers.

The rules' numbers live here: :data:`OFFERS_PER_DAY` per user and local date, offers valid
:data:`OFFER_TTL`, a pair not offered again within :data:`REPEAT_WITHIN_DAYS`, no second batch
within :data:`RECENT_BATCH`, distances capped at :data:`MAX_DISTANCE_KM`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from yoked_actors.clock import zone_strict
from yoked_actors.matching.candidates import candidate_pairs, pair_keys
from yoked_actors.matching.population import Population, gender_codes
from yoked_actors.matching.scoring import combine, components
from yoked_actors.matching.selection import greedy_select

#: Offers per user per their own local date, counting offers of that date from any run.
OFFERS_PER_DAY = 3
OFFER_TTL = timedelta(hours=24)
#: A pair offered on any local date in this window (today included) is not offered again.
REPEAT_WITHIN_DAYS = 30
#: A user with offers for another local date created this recently gets none this run.
RECENT_BATCH = timedelta(hours=20)
#: Distances above this are treated as this (it bounds how far the run reads neighbours).
MAX_DISTANCE_KM = 200.0

#: The columns of a person row, in the store's order.
PERSON_COLUMNS = (
    "id",
    "timezone",
    "subject",
    "lat",
    "lon",
    "max_km",
    "gender",
    "seeking_genders",
    "age",
    "age_min",
    "age_max",
    "level",
    "goals",
    "availability",
    "gym",
)


@dataclass(frozen=True)
class RunInput:
    """Everything a run decides from."""

    population: Population
    #: Sorted pair keys (``candidates.pair_keys``) that must not be offered.
    forbidden: npt.NDArray[np.int64]
    #: Each person's own local date (the day their quota counts).
    own_dates: list[date]


def _own_dates(
    timezones: Sequence[str], subject: Sequence[bool], local_date: date, as_of: datetime
) -> list[date | None]:
    """Each person's local date at ``as_of`` (the run's date for subjects); None for a person
    whose timezone name is unknown (they cannot be counted against a day, so they get none)."""
    by_zone: dict[str, date | None] = {}
    for name in set(timezones):
        try:
            by_zone[name] = as_of.astimezone(zone_strict(name)).date()
        except ValueError:
            by_zone[name] = None
    return [
        local_date if own else by_zone[name] for name, own in zip(timezones, subject, strict=True)
    ]


def _quotas(
    own: Sequence[date | None], already: Sequence[tuple[int, date, int, bool]]
) -> npt.NDArray[np.int64]:
    """Offers each person may still receive: ``OFFERS_PER_DAY`` less the offers already on
    their own local date; none for a person with a batch for another date in the last
    ``RECENT_BATCH`` (``already``: (person, local date, offers, any that recent))."""
    quota = np.array([OFFERS_PER_DAY if day else 0 for day in own], dtype=np.int64)
    for idx, day, count, recent in already:
        if day == own[idx]:
            quota[idx] -= count
        elif recent:
            quota[idx] = 0
    return np.maximum(quota, 0)


def build_input(
    people: Sequence[Sequence[Any]],
    forbidden_pairs: Sequence[tuple[int, int]],
    already: Sequence[tuple[int, date, int, bool]],
    local_date: date,
    as_of: datetime,
) -> RunInput:
    """The run's arrays from the rows the store read: people (``PERSON_COLUMNS``, ordered by
    user id), forbidden (person, person) pairs, and offers already made near ``local_date``."""
    if not people:
        return RunInput(empty_population(), np.zeros(0, dtype=np.int64), [])
    columns = dict(zip(PERSON_COLUMNS, zip(*people, strict=True), strict=True))
    own = _own_dates(columns["timezone"], columns["subject"], local_date, as_of)
    gender, seeking = gender_codes(columns["gender"], columns["seeking_genders"])

    def floats(name: str) -> npt.NDArray[np.float64]:
        return np.array(columns[name], dtype=np.float64)

    def ints(name: str) -> npt.NDArray[np.int64]:
        return np.array(columns[name], dtype=np.int64)

    population = Population(
        ids=np.array(columns["id"]),
        lat=floats("lat"),
        lon=floats("lon"),
        max_km=floats("max_km"),
        gender=gender,
        seeking=seeking,
        age=ints("age"),
        age_min=ints("age_min"),
        age_max=ints("age_max"),
        level=ints("level"),
        goals=ints("goals"),
        availability=ints("availability"),
        gym=ints("gym"),
        subject=np.array(columns["subject"], dtype=bool),
        quota=_quotas(own, already),
    )
    pairs = np.array(forbidden_pairs, dtype=np.int64).reshape(-1, 2)
    forbidden = np.unique(pair_keys(pairs[:, 0], pairs[:, 1], len(people)))
    return RunInput(population, forbidden, [d or local_date for d in own])


def empty_population() -> Population:
    """A population of nobody."""
    ints = np.zeros(0, dtype=np.int64)
    floats = np.zeros(0, dtype=np.float64)
    return Population(
        ids=np.zeros(0, dtype=str),
        lat=floats,
        lon=floats,
        max_km=floats,
        gender=ints,
        seeking=ints,
        age=ints,
        age_min=ints,
        age_max=ints,
        level=ints,
        goals=ints,
        availability=ints,
        gym=ints,
        subject=np.zeros(0, dtype=bool),
        quota=ints,
    )


@dataclass(frozen=True)
class Offers:
    """The offers a run decided, as parallel arrays sorted by (lo, hi)."""

    lo: npt.NDArray[np.int64]
    hi: npt.NDArray[np.int64]
    km: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    parts: dict[str, npt.NDArray[np.float64]]
    #: Fitting candidate pairs found, and subjects with at least one.
    candidates: int
    subjects_with_candidates: int
    #: Milliseconds spent finding + filtering candidates, scoring, selecting.
    timings_ms: dict[str, int]

    def __len__(self) -> int:
        return len(self.lo)


def decide(run_input: RunInput) -> Offers:
    """Candidates, scores and the greedy selection: the offers of the run."""
    population = run_input.population
    ticks = [time.perf_counter()]
    lo, hi, km = candidate_pairs(population, run_input.forbidden)
    ticks.append(time.perf_counter())
    parts = components(population, lo, hi, km)
    score = combine(parts)
    ticks.append(time.perf_counter())
    chosen = greedy_select(lo, hi, score, population.quota)
    ticks.append(time.perf_counter())
    has_candidate = np.zeros(len(population), dtype=bool)
    has_candidate[lo] = has_candidate[hi] = True
    return Offers(
        lo=lo[chosen],
        hi=hi[chosen],
        km=km[chosen],
        score=score[chosen],
        parts={name: values[chosen] for name, values in parts.items()},
        candidates=len(lo),
        subjects_with_candidates=int((has_candidate & population.subject).sum()),
        timings_ms={
            name: int((ticks[i + 1] - ticks[i]) * 1000)
            for i, name in enumerate(("candidates", "score", "select"))
        },
    )


@dataclass(frozen=True)
class Notices:
    """One ``daily_matches`` notification per person offered, as parallel arrays."""

    user_ids: npt.NDArray[np.str_]
    #: Offers the person received in this run.
    offers: npt.NDArray[np.int64]
    #: The person's own local date (``datetime64[D]``): the day the notification is about.
    local_dates: npt.NDArray[np.datetime64]

    def __len__(self) -> int:
        return len(self.user_ids)


def daily_notices(run_input: RunInput, offers: Offers) -> Notices:
    """The notifications of the run: every person offered, with their count and local date."""
    population = run_input.population
    per_user = np.bincount(np.concatenate((offers.lo, offers.hi)), minlength=len(population))
    users = np.flatnonzero(per_user)
    dates = [run_input.own_dates[i] for i in users.tolist()]
    return Notices(
        user_ids=population.ids[users],
        offers=per_user[users],
        local_dates=np.array(dates, dtype="datetime64[D]"),
    )


def outcome(run_input: RunInput, offers: Offers) -> dict[str, Any]:
    """What the run record keeps: eligible users (subjects), subjects with at least one offer,
    offers selected, their mean score (None without offers)."""
    population = run_input.population
    offered = np.zeros(len(population), dtype=bool)
    offered[offers.lo] = offered[offers.hi] = True
    return {
        "eligible_users": int(population.subject.sum()),
        "users_with_offers": int((offered & population.subject).sum()),
        "offers_selected": len(offers),
        "mean_score": round(float(offers.score.mean()), 4) if len(offers) else None,
    }
