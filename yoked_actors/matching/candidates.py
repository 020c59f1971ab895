"""Candidate pairs: people near each other who pass every hard filter both ways.

Neighbour search is a k-d tree over points on the sphere (scipy ``cKDTree``), so finding
candidates costs about ``n log n``, not ``n^2``. Each subject asks for its ``k`` nearest people
within its own ``max_distance_km``; in a dense city that is a sample of the closest people, not
everyone in range (scoring everyone would be billions of pairs at a million users). A subject
left with fewer than ``enough`` fitting candidates while its search was cut short by ``k`` asks
again with the next, larger ``k`` (``tiers``), so rare preferences still find their matches.

Hard filters, all both ways: distance within both users' ``max_distance_km``; each one's gender
sought by the other (an empty ``seeking`` is anyone); each one's age within the other's
``[age_min, age_max]``; not self; both with quota left; the pair not forbidden (a block either
way, offered together in the last 30 days, or matched before: ``forbidden`` keys).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from yoked_actors.matching.population import Population

EARTH_RADIUS_KM = 6371.0088
#: Neighbours asked for per subject, then again for subjects still short of candidates.
DEFAULT_TIERS = (16, 128, 1024)
#: Fitting candidates after which a subject stops widening its search.
DEFAULT_ENOUGH = 6
#: Subjects per k-d tree query (bounds memory: block x k pairs at once).
BLOCK = 50_000

Pairs = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]


def pair_keys(
    first: npt.NDArray[np.int64], second: npt.NDArray[np.int64], n: int
) -> npt.NDArray[np.int64]:
    """One int64 per unordered pair of indexes below ``n`` (the same for (a, b) and (b, a))."""
    lo = np.minimum(first, second).astype(np.int64)
    hi = np.maximum(first, second).astype(np.int64)
    return lo * np.int64(n) + hi


def to_xyz(lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Points on a sphere of the Earth's radius (km): straight-line distances are chords."""
    phi, lam = np.radians(lat), np.radians(lon)
    cos_phi = np.cos(phi)
    return EARTH_RADIUS_KM * np.column_stack(
        (cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi))
    )


def chord_for(km: npt.NDArray[np.float64] | float) -> npt.NDArray[np.float64]:
    """Chord length of a great-circle distance."""
    angle = np.minimum(np.asarray(km, dtype=np.float64) / EARTH_RADIUS_KM, np.pi)
    return np.asarray(2 * EARTH_RADIUS_KM * np.sin(angle / 2))


def km_for(chord: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Great-circle distance of a chord length."""
    ratio = np.clip(chord / (2 * EARTH_RADIUS_KM), 0.0, 1.0)
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(ratio))


def distance_km(
    population: Population, first: npt.NDArray[np.int64], second: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Great-circle distance in km between the pairs' two people."""
    xyz_a = to_xyz(population.lat[first], population.lon[first])
    xyz_b = to_xyz(population.lat[second], population.lon[second])
    return km_for(np.linalg.norm(xyz_a - xyz_b, axis=1))


def hard_filter(
    population: Population,
    first: npt.NDArray[np.int64],
    second: npt.NDArray[np.int64],
    km: npt.NDArray[np.float64],
    forbidden: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """Which pairs pass every hard filter, both ways. ``forbidden`` is a sorted array of
    :func:`pair_keys`."""
    p = population
    # Filters run on the survivors of the previous ones: most raw pairs fail early, and
    # gathering attributes for tens of millions of pairs is the expensive part.
    keep = np.flatnonzero((first != second) & (p.quota[second] > 0))
    a, b = first[keep], second[keep]
    ok = km[keep] <= np.minimum(p.max_km[a], p.max_km[b])
    ok &= (p.seeking[a] == 0) | ((p.seeking[a] >> p.gender[b]) & 1 == 1)
    ok &= (p.seeking[b] == 0) | ((p.seeking[b] >> p.gender[a]) & 1 == 1)
    keep, a, b = keep[ok], a[ok], b[ok]
    age_a, age_b = p.age[a], p.age[b]
    ok = (p.age_min[a] <= age_b) & (age_b <= p.age_max[a])
    ok &= (p.age_min[b] <= age_a) & (age_a <= p.age_max[b])
    ok &= p.quota[a] > 0
    keep, a, b = keep[ok], a[ok], b[ok]
    if len(forbidden) and len(keep):
        keys = pair_keys(a, b, len(p))
        at = np.searchsorted(forbidden, keys)
        keep = keep[forbidden[np.minimum(at, len(forbidden) - 1)] != keys]
    passed = np.zeros(len(first), dtype=bool)
    passed[keep] = True
    return passed


def _nearest(
    tree: cKDTree,
    xyz: npt.NDArray[np.float64],
    population: Population,
    subjects: npt.NDArray[np.int64],
    k: int,
    skip: int = 0,
) -> tuple[Pairs, npt.NDArray[np.bool_]]:
    """The ``skip+1``-th to ``k``-th nearest people within each subject's own max distance, as
    raw pairs, and whether each subject's search was cut short by ``k`` (more people may be in
    range). ``skip``: neighbours an earlier, smaller search already returned."""
    n = len(population)
    k = min(k, n)
    firsts, seconds, chords = [], [], []
    saturated = np.zeros(len(subjects), dtype=bool)
    # cKDTree takes one distance bound per query: query each distinct max distance apart.
    radii = population.max_km[subjects]
    for radius in np.unique(radii):
        rows = np.flatnonzero(radii == radius)
        for start in range(0, len(rows), BLOCK):
            block = rows[start : start + BLOCK]
            who = subjects[block]
            found_d, found_i = tree.query(
                xyz[who],
                k=k,
                distance_upper_bound=float(chord_for(radius)) * (1 + 1e-9),
                workers=-1,
            )
            found_d = found_d.reshape(len(who), k)
            found_i = found_i.reshape(len(who), k)
            hit = found_i < n
            saturated[block] = hit[:, -1] & (k < n)
            hit[:, :skip] = False
            counts = hit.sum(axis=1)
            firsts.append(np.repeat(who, counts))
            seconds.append(found_i[hit].astype(np.int64))
            chords.append(found_d[hit])
    if not firsts:
        empty = np.zeros(0, dtype=np.int64)
        return (empty, empty, np.zeros(0)), saturated
    return (
        (np.concatenate(firsts), np.concatenate(seconds), km_for(np.concatenate(chords))),
        saturated,
    )


def candidate_pairs(
    population: Population,
    forbidden: npt.NDArray[np.int64],
    *,
    tiers: tuple[int, ...] = DEFAULT_TIERS,
    enough: int = DEFAULT_ENOUGH,
) -> Pairs:
    """Every fitting pair found around the subjects, once each, as (``lo``, ``hi``, km) with
    ``lo < hi`` (indexes), sorted by (``lo``, ``hi``). Deterministic for the same population."""
    n = len(population)
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))
    if n < 2:
        return empty
    xyz = to_xyz(population.lat, population.lon)
    tree = cKDTree(xyz)
    pending = np.flatnonzero(population.subject & (population.quota > 0)).astype(np.int64)
    found: list[Pairs] = []
    asked = 0
    fitting = np.zeros(n, dtype=np.int64)
    for k in tiers:
        if len(pending) == 0:
            break
        (first, second, km), saturated = _nearest(tree, xyz, population, pending, k, asked)
        asked = min(k, n)
        keep = hard_filter(population, first, second, km, forbidden)
        first, second, km = first[keep], second[keep], km[keep]
        found.append((first, second, km))
        fitting += np.bincount(first, minlength=n)
        pending = pending[saturated & (fitting[pending] < enough)]
    first = np.concatenate([f for f, _, _ in found])
    second = np.concatenate([s for _, s, _ in found])
    km = np.concatenate([d for _, _, d in found])
    # A pair of two subjects is found from both sides, and widened searches find earlier
    # tiers' pairs again: keep each unordered pair once.
    keys, first_seen = np.unique(pair_keys(first, second, n), return_index=True)
    lo, hi = keys // n, keys % n
    return lo, hi, km[first_seen]
