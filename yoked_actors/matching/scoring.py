"""The score of a candidate pair: a weighted sum of five components, each in [0, 1].

=============  ===========================================================  ======
component      value                                                        weight
=============  ===========================================================  ======
``schedule``   shared availability slots / slots either is available         0.35
``distance``   ``exp(-distance_km / 10)``                                     0.25
``goals``      shared goals / goals either has (Jaccard)                     0.20
``level``      ``1 - |level_a - level_b| / 4`` (levels 1..5)                 0.10
``gym``        1 if both train at the same gym, else 0                      0.10
=============  ===========================================================  ======

The weights sum to 1, so a score is in [0, 1]. Two empty masks (no availability given, no
goals given) share nothing: 0. Every offer's ``reasons`` json holds these components, the
distance in km and the weights' version, so a score can be explained to a user or an analyst.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from yoked_actors.matching.population import Population

#: The only place the weights are set. Change SCORE_VERSION with them: it is stored in reasons.
WEIGHTS: dict[str, float] = {
    "schedule": 0.35,
    "distance": 0.25,
    "goals": 0.20,
    "level": 0.10,
    "gym": 0.10,
}
SCORE_VERSION = 1
DISTANCE_SCALE_KM = 10.0

Components = dict[str, npt.NDArray[np.float64]]


def jaccard(
    a: npt.NDArray[np.integer[Any]], b: npt.NDArray[np.integer[Any]]
) -> npt.NDArray[np.float64]:
    """Shared bits / bits set in either mask, elementwise; 0 where both are empty."""
    union = np.bitwise_count(a | b).astype(np.float64)
    shared = np.bitwise_count(a & b).astype(np.float64)
    return np.divide(shared, union, out=np.zeros_like(union), where=union > 0)


def components(
    population: Population,
    first: npt.NDArray[np.integer[Any]],
    second: npt.NDArray[np.integer[Any]],
    distance_km: npt.NDArray[np.float64],
) -> Components:
    """Each score component of the pairs (``first[n]``, ``second[n]``), in [0, 1]."""
    p = population
    gym_a, gym_b = p.gym[first], p.gym[second]
    return {
        "schedule": jaccard(p.availability[first], p.availability[second]),
        "distance": np.exp(-distance_km / DISTANCE_SCALE_KM),
        "goals": jaccard(p.goals[first], p.goals[second]),
        "level": 1.0 - np.abs(p.level[first] - p.level[second]) / 4.0,
        "gym": ((gym_a == gym_b) & (gym_a >= 0)).astype(np.float64),
    }


#: Pairs scored at once by :func:`score_pairs` (bounds the components' temporary arrays).
SCORE_CHUNK = 1 << 20


def score_pairs(
    population: Population,
    first: npt.NDArray[np.integer[Any]],
    second: npt.NDArray[np.integer[Any]],
    distance_km: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """``combine(components(...))`` of the pairs, computed ``SCORE_CHUNK`` pairs at a time so
    that the five components are never held for every pair at once (same values)."""
    score = np.empty(len(first), dtype=np.float64)
    for start in range(0, len(first), SCORE_CHUNK):
        rows = slice(start, start + SCORE_CHUNK)
        score[rows] = combine(components(population, first[rows], second[rows], distance_km[rows]))
    return score


def combine(parts: Components) -> npt.NDArray[np.float64]:
    """The weighted sum of the components: the score."""
    total = np.zeros_like(next(iter(parts.values())))
    for name, weight in WEIGHTS.items():
        total += weight * parts[name]
    return total
