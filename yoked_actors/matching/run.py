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
from yoked_actors.matching.candidates import candidate_pairs, distance_km, pair_keys
from yoked_actors.matching.population import MAX_GENDERS, Population
from yoked_actors.matching.scoring import SCORE_CHUNK, components, score_pairs
from yoked_actors.matching.selection import greedy_select_steps, score_steps

#: Offers per user per their own local date, counting offers of that date from any run.
OFFERS_PER_DAY = 3
OFFER_TTL = timedelta(hours=24)
#: A pair offered on any local date in this window (today included) is not offered again.
REPEAT_WITHIN_DAYS = 30
#: A user with offers for another local date created this recently gets none this run.
RECENT_BATCH = timedelta(hours=20)
#: Distances above this are treated as this (it bounds how far the run reads neighbours).
MAX_DISTANCE_KM = 200.0

#: Day 0 of PostgreSQL's binary ``date`` (days since it).
PG_EPOCH = np.datetime64("2000-01-01", "D")


@dataclass(frozen=True)
class RunInput:
    """Everything a run decides from."""

    population: Population
    #: Sorted pair keys (``candidates.pair_keys``) that must not be offered.
    forbidden: npt.NDArray[np.int64]
    #: Each person's own local date (the day their quota counts), ``datetime64[D]``.
    own_dates: npt.NDArray[np.datetime64]
    #: A sharded run's border pass: each person's band; only pairs across bands are offered.
    band: npt.NDArray[np.int64] | None = None


def zone_dates(zones: Sequence[str], as_of: datetime) -> npt.NDArray[np.datetime64]:
    """The local date at ``as_of`` in each timezone; NaT for a name that is unknown (its users
    cannot be counted against a day, so they get none)."""
    days: list[np.datetime64] = []
    for name in zones:
        try:
            days.append(np.datetime64(as_of.astimezone(zone_strict(name)).date(), "D"))
        except ValueError:
            days.append(np.datetime64("NaT", "D"))
    return np.array(days, dtype="datetime64[D]")


def quotas(
    own: npt.NDArray[np.datetime64], already: dict[str, npt.NDArray[Any]]
) -> npt.NDArray[np.int32]:
    """Offers each person may still receive: ``OFFERS_PER_DAY`` less the offers already on
    their own local date; none for a person with a batch for another date in the last
    ``RECENT_BATCH`` (``already``: ``idx``, ``day`` (days since 2000-01-01), ``offers``,
    ``recent``) or whose own date is unknown."""
    quota = np.where(np.isnat(own), 0, OFFERS_PER_DAY).astype(np.int32)
    idx = already["idx"].astype(np.int64)
    day = PG_EPOCH + already["day"].astype("timedelta64[D]")
    same = day == own[idx]
    quota -= np.bincount(idx[same], weights=already["offers"][same], minlength=len(own)).astype(
        np.int32
    )
    quota[idx[~same & (already["recent"] != 0)]] = 0
    return np.maximum(quota, 0)


def build_input(
    people: dict[str, npt.NDArray[Any]],
    genders: Sequence[str],
    zones: Sequence[str],
    forbidden_pairs: dict[str, npt.NDArray[Any]],
    already: dict[str, npt.NDArray[Any]],
    local_date: date,
    as_of: datetime,
) -> RunInput:
    """The run's input from the arrays the store read (``store.read_run``): people (ordered by
    user id; ``gender`` and ``zone`` index ``genders`` and ``zones``), forbidden (a, b) index
    pairs, and offers already made near ``local_date``. Raises ValueError if more than
    ``MAX_GENDERS`` distinct genders are present."""
    n = len(people["id"])
    if n == 0:
        return RunInput(empty_population(), np.zeros(0, dtype=np.int64), np.zeros(0, "M8[D]"))
    if len(genders) > MAX_GENDERS:
        raise ValueError(f"{len(genders)} distinct genders; at most {MAX_GENDERS} supported")
    subject = people["subject"].astype(bool)
    own = np.where(
        subject, np.datetime64(local_date, "D"), zone_dates(zones, as_of)[people["zone"]]
    )
    population = Population(
        ids=people["id"],
        lat=people["lat"],
        lon=people["lon"],
        max_km=people["max_km"],
        gender=people["gender"],
        seeking=people["seeking"],
        age=people["age"],
        age_min=people["age_min"],
        age_max=people["age_max"],
        level=people["level"],
        goals=people["goals"],
        availability=people["availability"],
        gym=people["gym"],
        subject=subject,
        quota=quotas(own, already),
    )
    keys = pair_keys(forbidden_pairs["a"], forbidden_pairs["b"], n)
    own_dates = np.where(np.isnat(own), np.datetime64(local_date, "D"), own)
    return RunInput(population, np.unique(keys), own_dates)


def empty_population() -> Population:
    """A population of nobody."""
    ints = np.zeros(0, dtype=np.int64)
    floats = np.zeros(0, dtype=np.float64)
    return Population(
        ids=np.zeros(0, dtype="V16"),
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

    lo: npt.NDArray[np.integer[Any]]
    hi: npt.NDArray[np.integer[Any]]
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


def decide(run_input: RunInput, *, pair_budget: int | None = None) -> Offers:
    """Candidates, scores and the greedy selection: the offers of the run. ``pair_budget``:
    raw neighbour pairs held at once while searching (bounds the search's memory)."""
    population = run_input.population
    ticks = [time.perf_counter()]
    lo, hi, km = candidate_pairs(population, run_input.forbidden, pair_budget=pair_budget)
    if run_input.band is not None:
        across = run_input.band[lo] != run_input.band[hi]
        lo, hi, km = lo[across], hi[across], km[across]
    ticks.append(time.perf_counter())
    steps = np.empty(len(lo), dtype=np.int32)
    for start in range(0, len(lo), SCORE_CHUNK):
        rows = slice(start, start + SCORE_CHUNK)
        steps[rows] = score_steps(score_pairs(population, lo[rows], hi[rows], km[rows]))
    candidates = len(lo)
    # The selection needs the steps only: the distances are recomputed for the chosen pairs.
    del km
    ticks.append(time.perf_counter())
    chosen = np.flatnonzero(greedy_select_steps(lo, hi, steps, population.quota))
    ticks.append(time.perf_counter())
    has_candidate = np.zeros(len(population), dtype=bool)
    has_candidate[lo] = has_candidate[hi] = True
    lo, hi = lo[chosen], hi[chosen]
    km = distance_km(population, lo, hi)
    # The score and components of the chosen pairs only.
    return Offers(
        lo=lo,
        hi=hi,
        km=km,
        score=score_pairs(population, lo, hi, km),
        parts=components(population, lo, hi, km),
        candidates=candidates,
        subjects_with_candidates=int((has_candidate & population.subject).sum()),
        timings_ms={
            name: int((ticks[i + 1] - ticks[i]) * 1000)
            for i, name in enumerate(("candidates", "score", "select"))
        },
    )


@dataclass(frozen=True)
class Notices:
    """One ``daily_matches`` notification per person offered, as parallel arrays."""

    user_ids: npt.NDArray[Any]
    #: Offers the person received in this run.
    offers: npt.NDArray[np.int64]
    #: The person's own local date (``datetime64[D]``): the day the notification is about.
    local_dates: npt.NDArray[np.datetime64]
    #: The first ``fresh`` people had no offer on their own local date from another run, so no
    #: notification for it either (unless from an earlier attempt of this run); the others
    #: may have one already.
    fresh: int = 0

    def __len__(self) -> int:
        return len(self.user_ids)


def daily_notices(run_input: RunInput, offers: Offers) -> Notices:
    """The notifications of the run: every person offered, with their count and local date;
    first those who had no offer on their own local date from another run (a full quota)."""
    population = run_input.population
    per_user = np.bincount(np.concatenate((offers.lo, offers.hi)), minlength=len(population))
    users = np.flatnonzero(per_user)
    offered_elsewhere = population.quota[users] < OFFERS_PER_DAY
    users = users[np.argsort(offered_elsewhere, kind="stable")]
    return Notices(
        user_ids=population.ids[users],
        offers=per_user[users],
        local_dates=run_input.own_dates[users],
        fresh=len(users) - int(offered_elsewhere.sum()),
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
