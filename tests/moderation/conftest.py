"""Moderation tests load the classifier once, up front (about 2 s of scikit-learn import), so
no worker thread pays for it inside a test's join timeout."""

from __future__ import annotations

import pytest

from yoked_actors.moderation import classifier


@pytest.fixture(scope="session", autouse=True)
def _classifier_loaded() -> None:
    classifier.load()
