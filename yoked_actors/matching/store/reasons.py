"""An offer's ``reasons`` as binary ``jsonb`` COPY values, built by numpy (docs/matching.md,
"Writing offers").

The stored value is the one ``jsonb_build_object('version', v, 'distance_km', km, 'schedule',
sc, 'distance', di, 'goals', go, 'level', le, 'gym', gy = 1)`` gives from the rounded float8
values: PostgreSQL turns each float8 into a jsonb number through its shortest decimal text
(``0.5``, ``1``, ``7.57``), so each rounded value is written the same way here, from the
integer it is a multiple of 0.01 or 0.001 of: no trailing zero, no point for a whole number.

A binary ``jsonb`` value is a version byte (1) and the json text. Every number has a slot of
fixed width, its unused places spaces (json allows them between tokens, and they are not
stored), so every row has the same layout: one byte matrix filled column by column, with no
string per value.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from yoked_actors.matching.scoring import SCORE_VERSION

#: Decimals kept: distance in km, and each score component.
KM_DECIMALS = 2
PART_DECIMALS = 3
PART_NAMES = ("schedule", "distance", "goals", "level")
#: Whole-number digits a slot holds: distances are at most a few hundred km, components <= 1.
KM_DIGITS = 6
PART_DIGITS = 1

_SPACE, _ZERO, _POINT = ord(" "), ord("0"), ord(".")
#: ``true`` and ``false`` in slots of one width.
_GYM = np.frombuffer(b"true false", dtype=np.uint8).reshape(2, 5)


def decimal_slots(
    values: npt.NDArray[np.float64], decimals: int, digits: int
) -> npt.NDArray[np.uint8]:
    """``values`` rounded to ``decimals`` as PostgreSQL's float8 output writes them, one row of
    ``digits + 1 + decimals`` bytes each: the whole part right-aligned, then the point and the
    fraction without trailing zeros (neither for a whole number), spaces elsewhere. Raises
    ValueError for a value that is negative, not finite or has more than ``digits`` digits."""
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("reasons hold finite, non-negative numbers only")
    scaled = np.rint(np.round(values, decimals) * 10**decimals).astype(np.int64)
    whole, fraction = np.divmod(scaled, 10**decimals)
    if (whole >= 10**digits).any():
        raise ValueError(f"a reasons number has more than {digits} whole digits")
    slots = np.empty((len(values), digits + 1 + decimals), dtype=np.uint8)
    rest = whole
    for place in range(digits - 1, -1, -1):  # right to left; a leading zero is a space
        shown = (rest > 0) | (place == digits - 1)
        slots[:, place] = np.where(shown, _ZERO + rest % 10, _SPACE)
        rest = rest // 10
    slots[:, digits] = np.where(fraction != 0, _POINT, _SPACE)
    for place in range(decimals):  # left to right; a digit is shown while non-zeros follow
        unit = 10 ** (decimals - 1 - place)
        shown = fraction % (unit * 10) != 0
        slots[:, digits + 1 + place] = np.where(shown, _ZERO + (fraction // unit) % 10, _SPACE)
    return slots


def reasons_jsonb(
    km: npt.NDArray[np.float64], parts: dict[str, npt.NDArray[np.float64]]
) -> npt.NDArray[np.bytes_]:
    """Each offer's ``reasons`` as a binary COPY ``jsonb`` value, all of one width."""
    pieces: list[bytes | npt.NDArray[np.uint8]] = [
        b'\x01{"version": %d, "distance_km": ' % SCORE_VERSION,
        decimal_slots(km, KM_DECIMALS, KM_DIGITS),
    ]
    for name in PART_NAMES:
        slots = decimal_slots(parts[name], PART_DECIMALS, PART_DIGITS)
        pieces += [b', "%s": ' % name.encode(), slots]
    pieces += [b', "gym": ', _GYM[np.where(parts["gym"] == 1, 0, 1)], b"}"]
    width = sum(len(piece) if isinstance(piece, bytes) else piece.shape[1] for piece in pieces)
    values = np.empty((len(km), width), dtype=np.uint8)
    at = 0
    for piece in pieces:
        if isinstance(piece, bytes):
            piece = np.frombuffer(piece, dtype=np.uint8)[None, :]
        values[:, at : at + piece.shape[1]] = piece
        at += piece.shape[1]
    return values.view(f"S{width}").ravel()
