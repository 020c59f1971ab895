"""The pure decisions of daily matching (filters, score, selection), without a database."""

from __future__ import annotations

import math

import numpy as np
import pytest
from match_support import population

from yoked_actors.matching import selection
from yoked_actors.matching.candidates import candidate_pairs, distance_km, pair_keys
from yoked_actors.matching.population import gender_codes, goal_mask
from yoked_actors.matching.scoring import WEIGHTS, combine, components, jaccard
from yoked_actors.matching.selection import greedy_select, selection_order

NONE = np.zeros(0, dtype=np.int64)


def pairs_of(pop, forbidden=NONE, **options) -> set[tuple[int, int]]:
    lo, hi, _ = candidate_pairs(pop, np.sort(forbidden), **options)
    return set(zip(lo.tolist(), hi.tolist(), strict=True))


def test_gender_preferences_hold_both_ways() -> None:
    pop = population(
        {"gender": "woman", "seeking": ("woman",)},
        {"gender": "man", "seeking": ("woman",)},  # wants 0, but 0 does not want men
        {"gender": "woman", "seeking": ()},  # anyone
        {"gender": "woman", "seeking": ("nonbinary",)},  # nobody in the run is nonbinary
    )
    assert pairs_of(pop) == {(0, 2), (1, 2)}


def test_age_preferences_hold_both_ways() -> None:
    pop = population(
        {"age": 25, "age_min": 20, "age_max": 30},
        {"age": 28, "age_min": 30, "age_max": 40},  # 0 accepts 28, 1 refuses 25
        {"age": 29, "age_min": 25, "age_max": 35},  # 1 refuses 29 too
        {"age": 32, "age_min": 25, "age_max": 35},
    )
    assert pairs_of(pop) == {(0, 2), (1, 3), (2, 3)}


def test_distance_within_both_max_distances() -> None:
    # About 11.1 km apart on a meridian.
    pop = population(
        {"lat": 40.0, "max_km": 50.0},
        {"lat": 40.1, "max_km": 10.0},
        {"lat": 40.1, "lon": -74.0001, "max_km": 12.0},
    )
    assert 11.0 < distance_km(pop, np.array([0]), np.array([1]))[0] < 11.2
    assert pairs_of(pop) == {(0, 2), (1, 2)}


def test_forbidden_pairs_self_and_exhausted_quota_are_left_out() -> None:
    pop = population({}, {}, {}, {"quota": 0})
    forbidden = pair_keys(np.array([1]), np.array([0]), len(pop))
    assert pairs_of(pop, forbidden) == {(0, 2), (1, 2)}


def test_only_subjects_search_but_anyone_near_is_a_candidate() -> None:
    pop = population({"subject": True}, {"subject": False}, {"subject": False})
    assert pairs_of(pop) == {(0, 1), (0, 2)}


def test_search_widens_for_a_subject_short_of_fitting_candidates() -> None:
    # Ten women seeking women crowd the nearest spots; the man seeking men is farther away.
    rows = [{"gender": "woman", "seeking": ("woman",), "lat": 40.0} for _ in range(10)]
    rows.append({"gender": "man", "seeking": ("man",), "lat": 40.0001})
    rows.append({"gender": "man", "seeking": ("man",), "lat": 40.05, "subject": False})
    pop = population(*rows)
    assert (10, 11) not in pairs_of(pop, tiers=(4,))
    assert (10, 11) in pairs_of(pop, tiers=(4, 16))


def test_score_components_and_weights() -> None:
    pop = population(
        {"availability": 0b1111, "goals": 0b011, "level": 1, "gym": 7},
        {"availability": 0b0011, "goals": 0b110, "level": 3, "gym": 7, "lat": 40.79},
    )
    first, second = np.array([0]), np.array([1])
    km = distance_km(pop, first, second)
    parts = components(pop, first, second, km)
    assert parts["schedule"][0] == pytest.approx(0.5)
    assert parts["goals"][0] == pytest.approx(1 / 3)
    assert parts["level"][0] == pytest.approx(0.5)
    assert parts["gym"][0] == 1.0
    assert parts["distance"][0] == pytest.approx(math.exp(-km[0] / 10))
    expected = sum(WEIGHTS[name] * parts[name][0] for name in WEIGHTS)
    assert combine(parts)[0] == pytest.approx(expected)
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)


def test_empty_masks_share_nothing_and_no_gym_is_not_the_same_gym() -> None:
    assert jaccard(np.array([0]), np.array([0]))[0] == 0.0
    pop = population({"gym": -1}, {"gym": -1})
    parts = components(pop, np.array([0]), np.array([1]), np.array([0.0]))
    assert parts["gym"][0] == 0.0


def test_encodings() -> None:
    codes, masks = gender_codes(["woman", "man", "woman"], [(), ("woman",), ("alien",)])
    assert codes.tolist() == [1, 0, 1]
    assert masks[0] == 0 and masks[1] == 0b10 and masks[2] == 1 << 62
    assert goal_mask(["yoga", "strength", "unknown"], ["strength", "yoga"]) == 0b11


def sequential_greedy(lo, hi, score, quota) -> np.ndarray:
    """The reference: one pair at a time in selection order."""
    left = quota.copy()
    chosen = np.zeros(len(lo), dtype=bool)
    for pair in selection_order(lo, hi, score):
        a, b = lo[pair], hi[pair]
        if left[a] > 0 and left[b] > 0:
            chosen[pair] = True
            left[a] -= 1
            left[b] -= 1
    return chosen


@pytest.mark.parametrize("seed", range(25))
def test_round_based_greedy_equals_the_sequential_greedy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    keys = np.unique(rng.integers(0, n * n, size=int(rng.integers(1, 400))))
    lo, hi = keys // n, keys % n
    keep = lo < hi
    lo, hi = lo[keep], hi[keep]
    # Few distinct scores: many ties, which the (lo, hi) tie break must settle.
    score = rng.integers(0, 5, size=len(lo)) / 4.0
    quota = rng.integers(0, 4, size=n)
    chosen = greedy_select(lo, hi, score, quota)
    assert np.array_equal(chosen, sequential_greedy(lo, hi, score, quota))
    used = np.bincount(lo[chosen], minlength=n) + np.bincount(hi[chosen], minlength=n)
    assert (used <= quota).all()


def test_the_one_at_a_time_finish_gives_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection, "MAX_ROUNDS", 1)
    rng = np.random.default_rng(99)
    keys = np.unique(rng.integers(0, 40 * 40, size=500))
    lo, hi = keys // 40, keys % 40
    lo, hi = lo[lo < hi], hi[lo < hi]
    score = rng.integers(0, 3, size=len(lo)) / 2.0
    quota = rng.integers(1, 4, size=40)
    chosen = greedy_select(lo, hi, score, quota)
    assert np.array_equal(chosen, sequential_greedy(lo, hi, score, quota))


def test_greedy_prefers_the_best_pair_and_breaks_ties_by_ids() -> None:
    lo, hi = np.array([0, 0, 1]), np.array([1, 2, 2])
    quota = np.array([1, 1, 1])
    assert greedy_select(lo, hi, np.array([0.5, 0.9, 0.9]), quota).tolist() == [False, True, False]
    assert greedy_select(lo, hi, np.array([0.5, 0.5, 0.5]), quota).tolist() == [True, False, False]
