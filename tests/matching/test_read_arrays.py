"""The people read without ORDER BY come back placed by their index, whatever the order."""

from __future__ import annotations

import numpy as np
import pytest

from yoked_actors.matching.store.people import by_index


def test_rows_in_any_order_are_placed_by_their_index() -> None:
    rows = {
        "idx": np.array([2, 0, 3, 1], dtype=np.int32),
        "age": np.array([32, 30, 33, 31], dtype=np.int32),
        "lat": np.array([4.2, 4.0, 4.3, 4.1]),
    }
    placed = by_index(rows)
    assert set(placed) == {"age", "lat"}
    assert placed["age"].tolist() == [30, 31, 32, 33]
    assert placed["lat"].tolist() == [4.0, 4.1, 4.2, 4.3]


def test_rows_in_index_order_are_kept_as_they_are() -> None:
    ages = np.array([30, 31, 32], dtype=np.int32)
    placed = by_index({"idx": np.arange(3, dtype=np.int32), "age": ages})
    assert placed["age"] is ages


@pytest.mark.parametrize("idx", [[0, 0, 2], [0, 1, 3], [-1, 0, 1]])
def test_indexes_that_are_not_each_person_once_are_an_error(idx: list[int]) -> None:
    with pytest.raises(ValueError, match="person indexes"):
        by_index({"idx": np.array(idx, dtype=np.int32), "age": np.zeros(3, dtype=np.int32)})
