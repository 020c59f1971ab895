"""Greedy selection: pairs by score, best first, each person in at most their quota of pairs.

The result is exactly that of the sequential greedy: sort pairs by (score descending, ``lo``,
``hi``) and take a pair when both people still have quota. Scores are compared at a resolution
of ``2**-20`` (about 1e-6): closer scores count as equal and the ids decide, which keeps the
order total and lets it be one integer sort.

The greedy is computed in vectorised rounds: a pair that is among the first ``quota``
remaining pairs of both its people cannot be refused by the sequential greedy (fewer than
``quota`` earlier pairs compete for either person), so every such pair is taken at once;
quotas shrink, pairs of exhausted people drop out, and the next round looks at what is left.
The best remaining pair always qualifies, so each round makes progress; in practice about ten
rounds finish millions of pairs, each on fewer pairs than the last. Past ``MAX_ROUNDS`` the
rest is finished one pair at a time, which gives the same answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

MAX_ROUNDS = 100
SCORE_STEPS = 1 << 20
#: Pairs whose sort keys are built at once (bounds the temporary arrays).
KEY_CHUNK = 1 << 20


def score_steps(score: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
    """Scores in [0, 1] at ``1 / SCORE_STEPS``: what the selection compares."""
    return np.rint(np.clip(score, 0.0, 1.0) * SCORE_STEPS).astype(np.int32)


def selection_order(
    lo: npt.NDArray[np.integer[Any]],
    hi: npt.NDArray[np.integer[Any]],
    score: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64]:
    """Pair indexes by score descending (scores in [0, 1], at ``1 / SCORE_STEPS``), ties by
    (``lo``, ``hi``): a total order."""
    return order_by_steps(lo, hi, score_steps(score))


def order_by_steps(
    lo: npt.NDArray[np.integer[Any]],
    hi: npt.NDArray[np.integer[Any]],
    steps: npt.NDArray[np.int32],
) -> npt.NDArray[np.int64]:
    """:func:`selection_order` from the scores' steps (:func:`score_steps`)."""
    count = len(lo)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    by_pair: npt.NDArray[np.int64] | None = None
    if count > 1:
        later = (lo[1:] > lo[:-1]) | ((lo[1:] == lo[:-1]) & (hi[1:] > hi[:-1]))
        if not bool(later.all()):
            span = np.int64(max(int(hi.max()), int(lo.max())) + 1)
            pair = lo.astype(np.int64) * span + hi.astype(np.int64)
            by_pair = np.argsort(pair).astype(np.int64)  # pairs are distinct: any sort is stable
            del pair
        del later
    # One int64 key per pair, (best score first, then pair order), built in chunks: sorting
    # plain integers is several times faster than an argsort over several keys.
    key = np.empty(count, dtype=np.int64)
    for start in range(0, count, KEY_CHUNK):
        rows = slice(start, start + KEY_CHUNK)
        part = (steps[rows] if by_pair is None else steps[by_pair[rows]]).astype(np.int64)
        key[rows] = (SCORE_STEPS - part) * np.int64(count)
        key[rows] += np.arange(start, start + len(part), dtype=np.int64)
    key.sort()
    key %= np.int64(count)
    return key if by_pair is None else by_pair[key]


def _room_limits(
    first: npt.NDArray[np.integer[Any]],
    second: npt.NDArray[np.integer[Any]],
    left: npt.NDArray[np.int64],
    places: npt.NDArray[np.integer[Any]],
) -> npt.NDArray[np.integer[Any]]:
    """For each person ``x``, the position of their ``left[x]``-th pair in this (ordered) list,
    or ``len(first)`` if they have fewer: a pair at position ``p`` is within the first
    ``left[x]`` pairs of ``x`` exactly when ``p <= limit[x]``. ``places``: the positions,
    ``0 .. len(first) - 1`` (the caller's, not built twice)."""
    count = len(first)
    small = places.dtype
    limit: npt.NDArray[np.integer[Any]] = np.full(len(left), count, dtype=small)
    previous = np.full(len(left), -1, dtype=small)
    for nth in range(1, int(max(left[first].max(initial=0), left[second].max(initial=0))) + 1):
        current = np.full(len(left), count, dtype=small)
        # Each side apart (a person's pairs are where they are first or second): no array of
        # twice the pairs.
        for people in (first, second):
            if nth == 1:  # everyone's first pair: no earlier one to skip
                np.minimum.at(current, people, places)
            else:
                np.minimum.at(current, people, np.where(places > previous[people], places, count))
        limit = np.where(left == nth, current, limit)
        previous = current
    return limit


def greedy_select(
    lo: npt.NDArray[np.integer[Any]],
    hi: npt.NDArray[np.integer[Any]],
    score: npt.NDArray[np.float64],
    quota: npt.NDArray[np.integer[Any]],
) -> npt.NDArray[np.bool_]:
    """Which pairs the greedy takes (a mask over the input pairs). ``quota[i]``: pairs person
    ``i`` may still receive. Pairs must be distinct and ``lo != hi``."""
    return greedy_select_steps(lo, hi, score_steps(score), quota)


def greedy_select_steps(
    lo: npt.NDArray[np.integer[Any]],
    hi: npt.NDArray[np.integer[Any]],
    steps: npt.NDArray[np.int32],
    quota: npt.NDArray[np.integer[Any]],
) -> npt.NDArray[np.bool_]:
    """:func:`greedy_select` from the scores' steps (:func:`score_steps`): 4 bytes a pair."""
    chosen = np.zeros(len(lo), dtype=bool)
    if len(lo) == 0:
        return chosen
    small = np.int32 if len(lo) < np.iinfo(np.int32).max else np.int64
    order = order_by_steps(lo, hi, steps).astype(small)
    first, second = lo[order], hi[order]
    left = np.maximum(quota.astype(np.int64), 0)
    taken = np.zeros(len(order), dtype=bool)
    # Positions (in selection order) of the pairs still open, kept in order.
    is_open = (left[first] > 0) & (left[second] > 0)
    open_pairs: npt.NDArray[np.integer[Any]]
    if is_open.all():  # as the search leaves them: no int64 positions of every pair
        open_pairs = np.arange(len(order), dtype=small)
    else:
        open_pairs = np.flatnonzero(is_open).astype(small)
    del is_open
    for _ in range(MAX_ROUNDS):
        if len(open_pairs) == 0:
            break
        every = len(open_pairs) == len(first)
        a = first if every else first[open_pairs]
        b = second if every else second[open_pairs]
        # Positions among the open pairs (with every pair open: the open pairs themselves).
        place: npt.NDArray[np.integer[Any]] = (
            open_pairs if every else np.arange(len(open_pairs), dtype=small)
        )
        limit = _room_limits(a, b, left, place)
        take = place <= limit[a]
        take &= place <= limit[b]
        del place, limit
        taken[open_pairs[take]] = True
        left -= np.bincount(a[take], minlength=len(left))
        left -= np.bincount(b[take], minlength=len(left))
        open_pairs = open_pairs[~take & (left[a] > 0) & (left[b] > 0)]
        del a, b, take
    else:
        room = left.tolist()
        for pair, a_, b_ in zip(
            open_pairs.tolist(),
            first[open_pairs].tolist(),
            second[open_pairs].tolist(),
            strict=True,
        ):
            if room[a_] > 0 and room[b_] > 0:
                taken[pair] = True
                room[a_] -= 1
                room[b_] -= 1
    chosen[order[taken]] = True
    return chosen
