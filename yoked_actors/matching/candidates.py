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

from dataclasses import fields
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from yoked_actors.matching.memory import trim
from yoked_actors.matching.population import Population

EARTH_RADIUS_KM = 6371.0088
#: Neighbours asked for per subject, then again for subjects still short of candidates.
DEFAULT_TIERS = (16, 128, 1024)
#: Fitting candidates after which a subject stops widening its search.
DEFAULT_ENOUGH = 6
#: Subjects per k-d tree query at most.
BLOCK = 50_000
#: Pairs compacted at once after the sort.
COMPACT_CHUNK = 1 << 20
#: Raw neighbour pairs held at once by default (16 bytes each as queried): the block of
#: subjects of a query is ``PAIR_BUDGET // k``.
PAIR_BUDGET = 250_000

Pairs = tuple[npt.NDArray[np.integer[Any]], npt.NDArray[np.integer[Any]], npt.NDArray[np.float64]]


def pair_keys(
    first: npt.NDArray[np.integer[Any]], second: npt.NDArray[np.integer[Any]], n: int
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
    population: Population,
    first: npt.NDArray[np.integer[Any]],
    second: npt.NDArray[np.integer[Any]],
) -> npt.NDArray[np.float64]:
    """Great-circle distance in km between the pairs' two people."""
    xyz_a = to_xyz(population.lat[first], population.lon[first])
    xyz_b = to_xyz(population.lat[second], population.lon[second])
    return km_for(np.linalg.norm(xyz_a - xyz_b, axis=1))


def hard_filter(
    population: Population,
    first: npt.NDArray[np.integer[Any]],
    second: npt.NDArray[np.integer[Any]],
    km: npt.NDArray[np.float64],
    forbidden: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """Which pairs pass every hard filter, both ways. ``forbidden`` is a sorted array of
    :func:`pair_keys`."""
    keep, _ = _fitting(population, first, second, km, forbidden, None)
    passed = np.zeros(len(first), dtype=bool)
    passed[keep] = True
    return passed


def _fitting(
    p: Population,
    first: npt.NDArray[np.integer[Any]],
    second: npt.NDArray[np.integer[Any]],
    km: npt.NDArray[np.float64],
    forbidden: npt.NDArray[np.int64],
    ids: npt.NDArray[np.int64] | None,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """The positions of the pairs that pass every hard filter and their :func:`pair_keys`.
    ``ids``: for a population in another order, each person's index in the order of
    ``forbidden`` and of the keys returned (None: the same order)."""
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
    keys = pair_keys(a, b, len(p)) if ids is None else pair_keys(ids[a], ids[b], len(p))
    if len(forbidden) and len(keep):
        at = np.searchsorted(forbidden, keys)
        allowed = forbidden[np.minimum(at, len(forbidden) - 1)] != keys
        keep, keys = keep[allowed], keys[allowed]
    return keep, keys


def _nearest(
    tree: cKDTree,
    xyz: npt.NDArray[np.float64],
    population: Population,
    subjects: npt.NDArray[np.int64],
    forbidden: npt.NDArray[np.int64],
    k: int,
    skip: int,
    pair_budget: int,
    fitting: npt.NDArray[np.int64],
    found: PairBuffer,
    ids: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """Adds to ``found`` the fitting pairs among the ``skip+1``-th to ``k``-th nearest people
    within each subject's own max distance, as :func:`pair_keys` of ``ids``, and to
    ``fitting`` each subject's count of them; returns whether each subject's search was cut
    short by ``k`` (more people may be in range). ``skip``: neighbours an earlier, smaller
    search already returned.

    Subjects are queried in blocks of ``pair_budget // k`` and each block's raw pairs are
    filtered at once (:func:`hard_filter` judges each pair alone): at most ``pair_budget`` raw
    pairs are held at a time, only the fitting ones are kept."""
    n = len(population)
    k = min(k, n)
    block_size = max(1, min(BLOCK, pair_budget // k))
    saturated = np.zeros(len(subjects), dtype=bool)
    # cKDTree takes one distance bound per query: query each distinct max distance apart.
    radii = population.max_km[subjects]
    for radius in np.unique(radii):
        rows = np.flatnonzero(radii == radius)
        for start in range(0, len(rows), block_size):
            block = rows[start : start + block_size]
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
            first = np.repeat(who, hit.sum(axis=1))
            second = found_i[hit].astype(np.int64)
            km = km_for(found_d[hit])
            del found_d, found_i, hit
            keep, keys = _fitting(population, first, second, km, forbidden, ids)
            fitting += np.bincount(first[keep], minlength=n)
            found.add(keys)
    return saturated


def candidate_pairs(
    population: Population,
    forbidden: npt.NDArray[np.int64],
    *,
    tiers: tuple[int, ...] = DEFAULT_TIERS,
    enough: int = DEFAULT_ENOUGH,
    pair_budget: int | None = None,
) -> Pairs:
    """Every fitting pair found around the subjects, once each, as (``lo``, ``hi``, km) with
    ``lo < hi`` (indexes; int32 below 2**31 people), sorted by (``lo``, ``hi``). Deterministic
    for the same population; ``pair_budget`` (raw neighbour pairs held at once, default
    ``PAIR_BUDGET``) bounds memory and does not change the result."""
    n = len(population)
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))
    if n < 2:
        return empty
    # The search works on the people in the k-d tree's leaf order, where people near each
    # other are near in memory: neighbouring subjects are queried one after the other (each
    # query walks the nodes the previous one just walked, still in cache) and the filters'
    # lookups of a block's neighbours touch a few pages, not the whole arrays. In user id
    # order (random in space) the search took twice as long. Keys go back to the run's order.
    everyone = to_xyz(population.lat, population.lon)
    ids = cKDTree(everyone).indices.astype(np.int64)
    local = _reordered(population, ids)
    xyz = everyone[ids]
    tree = cKDTree(xyz)
    pending = np.flatnonzero(local.subject & (local.quota > 0)).astype(np.int64)
    found = PairBuffer()
    asked = 0
    fitting = np.zeros(n, dtype=np.int64)
    budget = pair_budget or PAIR_BUDGET
    for k in tiers:
        if len(pending) == 0:
            break
        saturated = _nearest(
            tree, xyz, local, pending, forbidden, k, asked, budget, fitting, found, ids
        )
        asked = min(k, n)
        pending = pending[saturated & (fitting[pending] < enough)]
    del tree, xyz, fitting, local, ids
    trim()
    lo, hi = found.distinct(n)
    return lo, hi, pair_distances(everyone, lo, hi)


def _reordered(population: Population, order: npt.NDArray[np.int64]) -> Population:
    """The people in ``order``."""
    return Population(**{f.name: getattr(population, f.name)[order] for f in fields(population)})


class PairBuffer:
    """Fitting pairs as they are found, as :func:`pair_keys`, in one buffer that grows in place
    (``ndarray.resize``: a realloc, which moves pages rather than copying them for large
    buffers), so the pairs are never held twice while they accumulate (the pairs found twice
    are about 1 %). The distances are not kept: :func:`pair_distances` recomputes them from the
    positions, the same arithmetic as the k-d tree's (the same values, bit for bit)."""

    def __init__(self) -> None:
        self.keys = np.empty(1 << 16, dtype=np.int64)
        self.size = 0

    def add(self, keys: npt.NDArray[np.int64]) -> None:
        end = self.size + len(keys)
        if end > len(self.keys):
            # ndarray.resize zero-fills the new part: grow by an eighth, so little is touched
            # ahead of use (the realloc itself moves no data).
            self.keys.resize(max(end, len(self.keys) * 9 // 8), refcheck=False)
        self.keys[self.size : end] = keys
        self.size = end

    def distinct(self, n: int) -> tuple[npt.NDArray[np.integer[Any]], npt.NDArray[np.integer[Any]]]:
        """Each unordered pair once, sorted, as (lo, hi); empties the buffer.

        A pair of two subjects is found from both sides, and widened searches can find
        earlier tiers' pairs again. The keys are sorted in place (integers: no permutation
        array, and a vectorised sort); the first of each run of equal keys is kept."""
        keys = self.keys
        keys.resize(self.size, refcheck=False)
        self.keys = np.empty(0, dtype=np.int64)
        keys.sort()
        first = np.ones(len(keys), dtype=bool)
        np.not_equal(keys[1:], keys[:-1], out=first[1:])
        count = int(first.sum())
        index = np.int32 if n < np.iinfo(np.int32).max else np.int64
        lo: npt.NDArray[np.integer[Any]] = np.empty(count, dtype=index)
        hi: npt.NDArray[np.integer[Any]] = np.empty(count, dtype=index)
        out = 0
        for start in range(0, len(keys), COMPACT_CHUNK):
            key = keys[start : start + COMPACT_CHUNK][first[start : start + COMPACT_CHUNK]]
            lo[out : out + len(key)] = key // n
            hi[out : out + len(key)] = key % n
            out += len(key)
        return lo, hi


def pair_distances(
    xyz: npt.NDArray[np.float64],
    lo: npt.NDArray[np.integer[Any]],
    hi: npt.NDArray[np.integer[Any]],
) -> npt.NDArray[np.float64]:
    """Great-circle km between the pairs' people (``xyz``: :func:`to_xyz` of everyone),
    ``COMPACT_CHUNK`` pairs at a time."""
    km = np.empty(len(lo), dtype=np.float64)
    for start in range(0, len(lo), COMPACT_CHUNK):
        rows = slice(start, start + COMPACT_CHUNK)
        km[rows] = km_for(np.linalg.norm(xyz[lo[rows]] - xyz[hi[rows]], axis=1))
    return km
