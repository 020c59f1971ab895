"""Helpers of the matching tests: a population built from a few keyword rows, UTC instants,
and the contents of a queue nothing consumes."""

from __future__ import annotations

from typing import Any

import numpy as np

from yoked_actors.matching.population import Population, gender_codes

DEFAULTS: dict[str, Any] = {
    "lat": 40.70,
    "lon": -74.00,
    "max_km": 25.0,
    "gender": "woman",
    "seeking": (),
    "age": 30,
    "age_min": 18,
    "age_max": 99,
    "level": 3,
    "goals": 0b1,
    "availability": 0b1111,
    "gym": -1,
    "subject": True,
    "quota": 3,
}


def population(*rows: dict[str, Any]) -> Population:
    """People with DEFAULTS overridden by each row; ids in index order ("u000", "u001", ...)."""
    full = [{**DEFAULTS, **row} for row in rows]
    codes, masks = gender_codes([r["gender"] for r in full], [r["seeking"] for r in full])

    def column(name: str, dtype: Any) -> Any:
        return np.array([r[name] for r in full], dtype=dtype)

    return Population(
        ids=np.array([f"u{i:03d}" for i in range(len(full))]),
        lat=column("lat", np.float64),
        lon=column("lon", np.float64),
        max_km=column("max_km", np.float64),
        gender=codes,
        seeking=masks,
        age=column("age", np.int64),
        age_min=column("age_min", np.int64),
        age_max=column("age_max", np.int64),
        level=column("level", np.int64),
        goals=column("goals", np.int64),
        availability=column("availability", np.int64),
        gym=column("gym", np.int64),
        subject=column("subject", bool),
        quota=column("quota", np.int64),
    )
