"""Sharded runs, the pure part: when a timezone is split, into which bands, and the border
pass's input (docs/matching.md, "Sharded runs").

A timezone whose subjects exceed what one worker's memory budget holds (:func:`shard_count`)
is split at longitudes (the subjects' quantiles) into bands. Every person of the run belongs
to exactly one band (:func:`bands`: ``cuts[i-1] <= lon < cuts[i]``). Each shard pairs the
people of its band only, so shards never share a person and run in parallel in any order.
Once every band is done, one border pass pairs people of *different* bands, among those close
enough to a cut to reach across it, with the quota the shards left them
(:func:`border_input`): no pair, no quota and no hard rule is decided twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from yoked_actors.matching.run import RunInput

#: Peak RSS (MiB) of a worker process before a run's arrays: interpreter, numpy, scipy,
#: SQLAlchemy, the broker client, connections (measured: docs/matching.md, "Figures").
BASE_MB = 160
#: Peak bytes per person of a run (people read, candidates, selection), measured with margin.
PERSON_BYTES = 1_000


@dataclass(frozen=True)
class Region:
    """Where a run's people are: longitudes in [``lon_from``, ``lon_to``) (a shard's band)
    and, if ``strips`` is not empty, close enough to one of those meridians to reach someone
    on its other side within their own max distance (the border pass)."""

    lon_from: float = -1e9
    lon_to: float = 1e9
    strips: tuple[float, ...] = ()


EVERYWHERE = Region()


def capacity(memory_mb: int) -> int:
    """Subjects one run can hold within ``memory_mb`` MiB."""
    return max(1_000, (memory_mb - BASE_MB) * (1 << 20) // PERSON_BYTES)


def shard_count(subjects: int, memory_mb: int) -> int:
    """Shards a run of ``subjects`` needs within ``memory_mb`` MiB each (1: not sharded)."""
    return max(1, math.ceil(subjects / capacity(memory_mb)))


def band_region(cuts: list[float], shard: int) -> Region:
    """The people of band ``shard`` (0 .. len(cuts))."""
    if not 0 <= shard <= len(cuts):
        raise ValueError(f"shard {shard} does not exist: the run has {len(cuts) + 1} shards")
    return Region(
        lon_from=cuts[shard - 1] if shard > 0 else -1e9,
        lon_to=cuts[shard] if shard < len(cuts) else 1e9,
    )


def border_region(cuts: list[float]) -> Region:
    """The people who may pair across a cut."""
    return Region(strips=tuple(cuts))


def bands(lon: npt.NDArray[np.float64], cuts: list[float]) -> npt.NDArray[np.int64]:
    """Each person's band."""
    return np.searchsorted(np.asarray(cuts, dtype=np.float64), lon, side="right").astype(np.int64)


def border_input(
    run_input: RunInput, cuts: list[float], own: dict[str, npt.NDArray[Any]]
) -> RunInput:
    """The border pass's input: only pairs across bands (``band``), each person's quota less
    the offers the shards gave them in this run (``own``: this run's offers between the
    people read, as (a, b) indexes; pairs across bands in it are the border pass's own, from
    an earlier attempt, and are not counted, so every attempt decides the same)."""
    population = run_input.population
    band = bands(population.lon, cuts)
    a, b = own["a"].astype(np.int64), own["b"].astype(np.int64)
    same = band[a] == band[b]
    used = np.bincount(a[same], minlength=len(population))
    used += np.bincount(b[same], minlength=len(population))
    quota = np.maximum(population.quota - used, 0).astype(population.quota.dtype)
    return replace(run_input, population=replace(population, quota=quota), band=band)
