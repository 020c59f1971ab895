"""Moderation tests load the classifier once, up front (about 2 s of scikit-learn import), so
no worker thread pays for it inside a test's join timeout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from yoked_actors.db import get_engine
from yoked_actors.moderation import classifier


@pytest.fixture(scope="session", autouse=True)
def _classifier_loaded() -> None:
    classifier.load()


@pytest.fixture(autouse=True)
def _learned_classifier_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests judge the engine as deployed with MODERATION_LEARNED=on (the tests that need
    it off say so); settings are read afresh for every test (tests/conftest.py)."""
    monkeypatch.setenv("MODERATION_LEARNED", "on")


@pytest.fixture
def review_db(clean_db: str) -> Iterator[str]:
    """``clean_db`` that also empties human review's tables (appeals, findings, decisions)."""
    yield clean_db
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "TRUNCATE moderation_appeals, moderation_rescan_findings,"
                " moderation_review_decisions RESTART IDENTITY"
            )
        )
