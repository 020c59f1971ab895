"""The SQL that docs/matching.md shows is the SQL the jobs run."""

from __future__ import annotations

import re
from pathlib import Path

from yoked_actors.matching import store

DOC = Path(__file__).resolve().parents[2] / "docs" / "matching.md"


def normalized(text: str) -> str:
    return " ".join(text.split())


def test_the_expiration_statement_in_the_docs_is_the_one_that_runs() -> None:
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.S)
    assert normalized(store._EXPIRE_BATCH) in {normalized(b) for b in blocks}
