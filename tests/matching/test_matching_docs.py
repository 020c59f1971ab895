"""The SQL that docs/matching.md shows is the SQL the jobs run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from yoked_actors.matching import store
from yoked_actors.settings import SettingsError, load_settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "matching.md"


def normalized(text: str) -> str:
    return " ".join(text.split())


def test_the_expiration_statement_in_the_docs_is_the_one_that_runs() -> None:
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.S)
    assert normalized(store._EXPIRE_BATCH) in {normalized(b) for b in blocks}


def test_the_memory_budget_is_a_setting_and_a_bad_value_names_it() -> None:
    assert load_settings({}).matching_memory_mb == 700
    assert load_settings({"MATCHING_MEMORY_MB": "1500"}).matching_memory_mb == 1500
    for bad in ("100", "lots"):
        with pytest.raises(SettingsError, match="MATCHING_MEMORY_MB"):
            load_settings({"MATCHING_MEMORY_MB": bad})
