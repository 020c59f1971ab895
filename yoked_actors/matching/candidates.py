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

from concurrent.futures import ThreadPoolExecutor
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
    """Which pairs pass every hard filter, both ways. ``forbidden``: :func:`pair_keys` not to
    pair. The rules in their plainest form: the search applies the same ones
    block by block (:func:`_block_fitting`), and the tests hold it to this."""
    p = population
    ok = (first != second) & (p.quota[first] > 0) & (p.quota[second] > 0)
    ok &= km <= np.minimum(p.max_km[first], p.max_km[second])
    ok &= (p.seeking[first] == 0) | ((p.seeking[first] >> p.gender[second]) & 1 == 1)
    ok &= (p.seeking[second] == 0) | ((p.seeking[second] >> p.gender[first]) & 1 == 1)
    ok &= (p.age_min[first] <= p.age[second]) & (p.age[second] <= p.age_max[first])
    ok &= (p.age_min[second] <= p.age[first]) & (p.age[first] <= p.age_max[second])
    return ok & ~np.isin(pair_keys(first, second, len(p)), forbidden)


class _Searched:
    """What the search reads of each person, in ``order`` (the k-d tree's leaf order), with
    one extra entry at index ``n`` (what the tree returns for "no neighbour") that fits
    nobody, so that a block's whole neighbour matrix is judged without first dropping the
    misses. ``run_index``: each one's index in the run's order (user id order)."""

    def __init__(self, population: Population, order: npt.NDArray[np.int64]) -> None:
        p = population
        self.n = len(order)
        self.run_index = order
        self.subject = p.subject[order]
        self.max_km = p.max_km[order]
        self.age, self.age_min, self.age_max = p.age[order], p.age_min[order], p.age_max[order]
        seeking = p.seeking[order].astype(np.int64)
        #: The genders each one accepts as a bit mask (an empty ``seeking``: every gender).
        self.accepts = np.append(np.where(seeking == 0, -1, seeking), 0)
        #: ``1 << gender``; 0 for nobody.
        self.is_gender = np.append(np.left_shift(1, p.gender[order].astype(np.int64)), 0)
        #: Quota left; False for nobody.
        self.open = np.append(p.quota[order] > 0, False)


def _block_fitting(
    people: _Searched,
    who: npt.NDArray[np.int64],
    found_i: npt.NDArray[np.int64],
    found_d: npt.NDArray[np.float64],
    skip: int,
    forbidden: KeySet,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """The pairs of one block of queries (subject ``who[r]``, ``r``-th row of the k-d tree's
    neighbours ``found_i`` at chord ``found_d``) that pass every hard filter of
    :func:`hard_filter`, both ways: (their rows, their :func:`pair_keys` in the run's order).
    The subjects have quota left (only they search). The cheap, selective filters run first
    on the whole matrix, the subject's side broadcast along its row; the rest run on the
    survivors only."""
    p = people
    ok = p.open[found_i]
    ok[:, :skip] = False
    ok &= found_i != who[:, None]
    ok &= (p.accepts[who][:, None] & p.is_gender[found_i]) != 0
    ok &= (p.accepts[found_i] & p.is_gender[who][:, None]) != 0
    row, col = np.nonzero(ok)
    del ok
    a, b = who[row], found_i[row, col]
    age_a, age_b = p.age[a], p.age[b]
    fits = (p.age_min[a] <= age_b) & (age_b <= p.age_max[a])
    fits &= (p.age_min[b] <= age_a) & (age_a <= p.age_max[b])
    row, col, a, b = row[fits], col[fits], a[fits], b[fits]
    fits = km_for(found_d[row, col]) <= np.minimum(p.max_km[a], p.max_km[b])
    row, a, b = row[fits], a[fits], b[fits]
    keys = pair_keys(p.run_index[a], p.run_index[b], p.n)
    allowed = ~forbidden.holds(keys)
    return row[allowed], keys[allowed]


class KeySet:
    """A sorted array of keys that answers "which of these keys are in it" for millions of
    keys at once: a bitmap of the keys' hashes (``2**BITS`` bits, a few hundred KiB that stay
    in cache) answers most of them; only the keys whose bit is set (the members and a few
    per cent of others) are looked up in the sorted array, whose binary search misses the
    cache at every step."""

    BITS = 22
    #: Fibonacci hashing: the top bits of ``key * MULTIPLIER`` (mod 2**64) spread any keys.
    MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, keys: npt.NDArray[np.int64]) -> None:
        self.keys = keys
        self.bitmap = np.zeros(1 << (self.BITS - 3), dtype=np.uint8)
        hashed = self._hash(keys)
        np.bitwise_or.at(self.bitmap, hashed >> 3, np.left_shift(1, hashed & 7).astype(np.uint8))

    def _hash(self, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
        spread = keys.astype(np.int64, copy=False).view(np.uint64) * self.MULTIPLIER
        return spread >> np.uint64(64 - self.BITS)

    def holds(self, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Whether each of ``keys`` is in the set."""
        held = np.zeros(len(keys), dtype=bool)
        if len(self.keys) == 0 or len(keys) == 0:
            return held
        hashed = self._hash(keys)
        maybe = np.flatnonzero((self.bitmap[hashed >> 3] >> (hashed & 7)) & 1)
        candidates = keys[maybe]
        at = np.minimum(np.searchsorted(self.keys, candidates), len(self.keys) - 1)
        held[maybe] = self.keys[at] == candidates
        return held


def _nearest(
    tree: cKDTree,
    xyz: npt.NDArray[np.float64],
    people: _Searched,
    subjects: npt.NDArray[np.int64],
    radii: npt.NDArray[np.float64],
    forbidden: KeySet,
    k: int,
    skip: int,
    pair_budget: int,
    fitting: npt.NDArray[np.int64],
    found: PairBuffer,
) -> npt.NDArray[np.bool_]:
    """Adds to ``found`` the fitting pairs among the ``skip+1``-th to ``k``-th nearest people
    within each subject's own max distance (``radii``), as :func:`pair_keys` in the run's
    order, and to ``fitting`` each subject's count of them; returns whether each subject's
    search was cut short by ``k`` (more people may be in range). ``skip``: neighbours an
    earlier, smaller search already returned.

    Subjects are queried in blocks of ``pair_budget // k`` and each block's raw pairs are
    filtered at once (each pair is judged alone): at most ``pair_budget`` raw pairs are held
    at a time (two blocks: the next block's query runs, on every core, while this one's
    pairs are filtered), only the fitting ones are kept."""
    n = people.n
    k = min(k, n)
    block_size = max(1, min(BLOCK, pair_budget // k))
    saturated = np.zeros(len(subjects), dtype=bool)
    # cKDTree takes one distance bound per query: query each distinct max distance apart.
    blocks = [
        (radius, rows[start : start + block_size])
        for radius in np.unique(radii)
        for rows in [np.flatnonzero(radii == radius)]
        for start in range(0, len(rows), block_size)
    ]

    def query(at: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        radius, block = blocks[at]
        bound = float(chord_for(radius)) * (1 + 1e-9)
        found_d, found_i = tree.query(
            xyz[subjects[block]], k=k, distance_upper_bound=bound, workers=-1
        )
        return found_d.reshape(len(block), k), found_i.reshape(len(block), k)

    with ThreadPoolExecutor(max_workers=1) as ahead:
        upcoming = ahead.submit(query, 0) if blocks else None
        for at, (_, block) in enumerate(blocks):
            assert upcoming is not None
            found_d, found_i = upcoming.result()
            upcoming = ahead.submit(query, at + 1) if at + 1 < len(blocks) else None
            who = subjects[block]
            saturated[block] = (found_i[:, -1] < n) & (k < n)
            row, keys = _block_fitting(people, who, found_i, found_d, skip, forbidden)
            del found_d, found_i
            fitting[who] += np.bincount(row, minlength=len(who))
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
    order = cKDTree(everyone).indices.astype(np.int64)
    people = _Searched(population, order)
    excluded = KeySet(forbidden)
    xyz = everyone[order]
    tree = cKDTree(xyz)
    pending = np.flatnonzero(people.subject & people.open[:n])
    found = PairBuffer()
    asked = 0
    fitting = np.zeros(n, dtype=np.int64)
    budget = pair_budget or PAIR_BUDGET
    for k in tiers:
        if len(pending) == 0:
            break
        radii = people.max_km[pending]
        saturated = _nearest(
            tree, xyz, people, pending, radii, excluded, k, asked, budget, fitting, found
        )
        asked = min(k, n)
        pending = pending[saturated & (fitting[pending] < enough)]
    del tree, xyz, fitting, people, order
    trim()
    lo, hi = found.distinct(n)
    return lo, hi, pair_distances(everyone, lo, hi)


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
