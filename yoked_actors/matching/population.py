"""The people of one generation run as parallel numpy arrays.

Index ``i`` is the same person in every array; people are ordered by user id, so comparing
indexes compares ids (the deterministic tie break of the selection).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

#: Bit of ``seeking`` that nobody's gender has: someone seeking only genders that no one in the
#: run has must match nobody, not everybody (an empty mask means "anyone").
NOBODY_BIT = 62
MAX_GENDERS = NOBODY_BIT


@dataclass(frozen=True)
class Population:
    """Everyone a run may pair: its subjects (eligible users of the run's timezone) and the
    eligible users of other timezones near them. All arrays have one entry per person."""

    #: User ids: 16-byte uuids as read (``V16``), or strings (tests).
    ids: npt.NDArray[Any]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    max_km: npt.NDArray[np.float64]
    #: Gender code (index into the run's gender vocabulary).
    gender: npt.NDArray[np.integer[Any]]
    #: Bit ``g`` set: seeks gender code ``g``; 0: anyone.
    seeking: npt.NDArray[np.integer[Any]]
    age: npt.NDArray[np.integer[Any]]
    age_min: npt.NDArray[np.integer[Any]]
    age_max: npt.NDArray[np.integer[Any]]
    level: npt.NDArray[np.integer[Any]]
    #: Goals as a bit mask over ``contract.GOALS``.
    goals: npt.NDArray[np.integer[Any]]
    #: 28-bit weekly availability (7 days x 4 slots).
    availability: npt.NDArray[np.integer[Any]]
    #: Gym id, -1 for none.
    gym: npt.NDArray[np.integer[Any]]
    #: True for users of the run's timezone (the people this run serves).
    subject: npt.NDArray[np.bool_]
    #: Pairs each person may still receive on their own local day (0: none; never negative).
    quota: npt.NDArray[np.integer[Any]]

    def __len__(self) -> int:
        return len(self.ids)


def gender_codes(
    genders: Sequence[str], seeking: Sequence[Sequence[str]]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Encode genders as codes and seeking lists as bit masks over those codes.

    Codes are assigned in sorted order of the genders present, so the encoding depends only on
    the data. A sought gender that nobody has maps to :data:`NOBODY_BIT`. Raises ValueError if
    more than :data:`MAX_GENDERS` distinct genders are present.
    """
    vocabulary = {name: code for code, name in enumerate(sorted(set(genders)))}
    if len(vocabulary) > MAX_GENDERS:
        raise ValueError(f"{len(vocabulary)} distinct genders; at most {MAX_GENDERS} supported")
    codes = np.fromiter((vocabulary[g] for g in genders), dtype=np.int64, count=len(genders))
    masks = np.zeros(len(seeking), dtype=np.int64)
    for row, wanted in enumerate(seeking):
        mask = 0
        for name in wanted:
            mask |= 1 << vocabulary.get(name, NOBODY_BIT)
        masks[row] = mask
    return codes, masks


def goal_mask(goals: Sequence[str], vocabulary: Sequence[str]) -> int:
    """Goals as a bit mask over ``vocabulary`` (unknown goals ignored)."""
    positions = {name: bit for bit, name in enumerate(vocabulary)}
    mask = 0
    for goal in goals:
        if goal in positions:
            mask |= 1 << positions[goal]
    return mask
