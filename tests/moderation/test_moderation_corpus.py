"""The corpus: the test split measures text the head has never seen."""

from __future__ import annotations

from pathlib import Path

from yoked_actors.moderation import learned, training

EVAL = Path(__file__).resolve().parents[2] / "eval" / "moderation"


def test_near_copies_ignore_case_punctuation_spacing_and_word_order_but_not_wording() -> None:
    lines = ["You are such a LOSER!!", "u r  such a loser", "nice squat", "such a loser you are"]
    assert training.near_copies(lines, ["you are such a loser", "deadlift day"]) == {0, 3}
    assert training.near_copies(lines, []) == set()


def test_training_drops_its_lines_that_copy_a_test_line(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "test").mkdir()
    (tmp_path / "train" / "lines.tsv").write_text(
        "harassment\tur such a loser!!\nharassment\tnobody at this gym likes you\n"
        "clean\tcoach will murder me if i skip legs\n",
        encoding="utf-8",
    )
    (tmp_path / "test" / "part.tsv").write_text(
        "harassment\tUR SUCH A LOSER\nclean\tleg day tomorrow?\n", encoding="utf-8"
    )
    assert training.training_rows(tmp_path) == [
        ("clean", "coach will murder me if i skip legs"),
        ("harassment", "nobody at this gym likes you"),
    ]


def test_templated_lines_weigh_less_than_hand_written_ones(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "generated.tsv").write_text(
        "threats\ti will find you\nclean\tleg day\n", encoding="utf-8"
    )
    (tmp_path / "train" / "handwritten.tsv").write_text("clean\tleg day\n", encoding="utf-8")
    (tmp_path / "clean.txt").write_text("squat day\n", encoding="utf-8")
    rows = training.training_rows(tmp_path)
    assert rows == [("clean", "leg day"), ("clean", "squat day"), ("threats", "i will find you")]
    # A line a writer also wrote keeps its full weight.
    assert training.row_weights(tmp_path, rows).tolist() == [1.0, 1.0, training.GENERATED_WEIGHT]


def test_the_shipped_head_is_trained_on_the_repositorys_corpus_without_test_copies(
    tmp_path: Path,
) -> None:
    rows = training.training_rows(EVAL)
    texts = [text for _, text in rows]
    assert not training.near_copies(texts, [text for _, text in training.test_rows(EVAL)])
    # `yoked moderation train` from this corpus writes exactly the head that ships.
    weights = training.row_weights(EVAL, rows)
    assert training.train(rows, tmp_path / "head.npz", weights=weights) == learned.digest(
        learned.ARTIFACT
    )
