"""The fast candidate search (leaf order, block filters, hashed forbidden keys) finds exactly
the pairs the plain hard filter accepts, on random populations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from yoked_actors.matching.candidates import (
    KeySet,
    candidate_pairs,
    distance_km,
    hard_filter,
    km_for,
    pair_distances,
    pair_keys,
    to_xyz,
)
from yoked_actors.matching.population import Population


def random_population(rng: np.random.Generator, n: int) -> Population:
    """People in a few clusters, with every filter's attribute drawn at random."""
    centre = rng.integers(0, 4, n)
    gender = rng.integers(0, 3, n)
    seeking = rng.choice([0, 0b001, 0b010, 0b011, 0b100, 1 << 62], size=n)
    age = rng.integers(18, 60, n)
    return Population(
        ids=np.array([f"u{i:04d}" for i in range(n)]),
        lat=40.0 + 0.3 * centre + rng.normal(0, 0.05, n),
        lon=-74.0 + 0.3 * centre + rng.normal(0, 0.05, n),
        max_km=rng.choice([2.0, 5.0, 10.0, 50.0], size=n),
        gender=gender,
        seeking=seeking,
        age=age,
        age_min=age - rng.integers(0, 15, n),
        age_max=age + rng.integers(0, 15, n),
        level=rng.integers(1, 6, n),
        goals=rng.integers(0, 16, n),
        availability=rng.integers(0, 1 << 28, n),
        gym=rng.integers(-1, 5, n),
        subject=rng.random(n) < 0.8,
        quota=rng.choice([0, 1, 3], size=n, p=[0.1, 0.2, 0.7]),
    )


def every_fitting_pair(pop: Population, forbidden: np.ndarray) -> set[tuple[int, int]]:
    """All pairs with a subject that pass :func:`hard_filter`, by brute force."""
    n = len(pop)
    first, second = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))
    searched = pop.subject[first]
    first, second = first[searched], second[searched]
    km = distance_km(pop, first, second)
    keep = hard_filter(pop, first, second, km, forbidden)
    return {(min(a, b), max(a, b)) for a, b in zip(first[keep], second[keep], strict=True)}


@pytest.mark.parametrize("seed", range(4))
def test_search_with_every_neighbour_finds_exactly_the_fitting_pairs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pop = random_population(rng, 600)
    forbidden = np.unique(pair_keys(rng.integers(0, 600, 3000), rng.integers(0, 600, 3000), 600))
    expected = every_fitting_pair(pop, forbidden)
    # Every neighbour in range (one tier of everyone), in blocks of a few subjects at a time.
    lo, hi, km = candidate_pairs(pop, forbidden, tiers=(600,), pair_budget=5_000)
    assert set(zip(lo.tolist(), hi.tolist(), strict=True)) == expected
    assert len(expected) > 300  # the population is not trivially empty of pairs
    assert np.all(lo < hi)
    assert np.all(np.diff(lo.astype(np.int64) * 600 + hi) > 0)  # sorted, each pair once
    assert np.array_equal(km, distance_km(pop, lo, hi))


def test_the_pair_budget_does_not_change_the_pairs() -> None:
    pop = random_population(np.random.default_rng(9), 800)
    whole = candidate_pairs(pop, np.zeros(0, dtype=np.int64))
    for budget in (64, 1_000):
        blocks = candidate_pairs(pop, np.zeros(0, dtype=np.int64), pair_budget=budget)
        assert all(np.array_equal(x, y) for x, y in zip(whole, blocks, strict=True))


def test_key_set_answers_like_a_plain_membership_test() -> None:
    rng = np.random.default_rng(3)
    # Large keys (as pair keys of a million people are) and far more queries than members,
    # so that many queries share a bitmap bit with a member without being one.
    members = np.unique(rng.integers(0, 10**12, 300_000))
    queries = np.concatenate((rng.integers(0, 10**12, 500_000), members[::7]))
    held = KeySet(members).holds(queries)
    assert np.array_equal(held, np.isin(queries, members))
    assert held.sum() >= len(members[::7])
    assert not KeySet(np.zeros(0, dtype=np.int64)).holds(queries).any()


def test_distances_recomputed_from_positions_are_the_k_d_trees() -> None:
    # The search keeps pair keys only and recomputes the distances of the pairs it keeps:
    # they must be the very values its distance filter judged.
    pop = random_population(np.random.default_rng(11), 2_000)
    xyz = to_xyz(pop.lat, pop.lon)
    chord, near = cKDTree(xyz).query(xyz, k=30)
    first = np.repeat(np.arange(len(pop)), 30)
    assert np.array_equal(pair_distances(xyz, first, near.ravel()), km_for(chord.ravel()))
