"""Greedy selection: pairs by score, best first, each person in at most their quota of pairs.

The result is exactly that of the sequential greedy: sort pairs by (score descending, ``lo``,
``hi``) and take a pair when both people still have quota. It is computed in vectorised rounds:
a pair that is among the first ``quota`` remaining pairs of both its people cannot be refused by
the sequential greedy (fewer than ``quota`` earlier pairs compete for either person), so every
such pair is taken at once; quotas shrink, exhausted people drop out, and the next round looks
again. The best remaining pair always qualifies, so each round makes progress; in practice a
few dozen rounds finish millions of pairs. Past ``MAX_ROUNDS`` the rest is finished one pair
at a time, which gives the same answer.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MAX_ROUNDS = 200


def selection_order(
    lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64], score: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """Pair indexes by score descending, ties by (``lo``, ``hi``): a total order."""
    return np.lexsort((hi, lo, -score)).astype(np.int64)


def greedy_select(
    lo: npt.NDArray[np.int64],
    hi: npt.NDArray[np.int64],
    score: npt.NDArray[np.float64],
    quota: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """Which pairs the greedy takes (a mask over the input pairs). ``quota[i]``: pairs person
    ``i`` may still receive. Pairs must be distinct and ``lo != hi``."""
    chosen = np.zeros(len(lo), dtype=bool)
    if len(lo) == 0:
        return chosen
    order = selection_order(lo, hi, score)
    first, second = lo[order], hi[order]
    left = quota.astype(np.int64).copy()
    count = len(order)
    # Each pair appears twice in the incidence list, once per person; sorted by person, then by
    # the pair's place in the global order, so a running count gives each pair's rank per person.
    person = np.concatenate((first, second))
    place = np.concatenate((np.arange(count), np.arange(count)))
    incidence = np.lexsort((place, person))
    sorted_person = person[incidence]
    group_start = np.searchsorted(sorted_person, sorted_person, side="left")
    taken = np.zeros(count, dtype=bool)
    alive = (left[first] > 0) & (left[second] > 0)
    for _ in range(MAX_ROUNDS):
        if not alive.any():
            break
        running = np.cumsum(np.concatenate((alive, alive))[incidence])
        before_group = np.where(group_start > 0, running[group_start - 1], 0)
        rank = np.empty(2 * count, dtype=np.int64)
        rank[incidence] = running - before_group - 1
        take = alive & (rank[:count] < left[first]) & (rank[count:] < left[second])
        taken |= take
        left -= np.bincount(first[take], minlength=len(left))
        left -= np.bincount(second[take], minlength=len(left))
        alive &= ~take & (left[first] > 0) & (left[second] > 0)
    else:
        for pair in np.flatnonzero(alive):
            a, b = first[pair], second[pair]
            if left[a] > 0 and left[b] > 0:
                taken[pair] = True
                left[a] -= 1
                left[b] -= 1
    chosen[order[taken]] = True
    return chosen
