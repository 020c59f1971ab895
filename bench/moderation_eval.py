"""Precision and recall of the moderation engine on the labelled evaluation set.

    .venv/bin/python bench/moderation_eval.py [--split test] [--errors]

``--split test`` reads the held-out test split (every file of eval/moderation/test/), which no
training run reads; the default is the original set, now part of the training corpus.

The set (eval/moderation/): ``clean.txt`` is gym chat that must stay clean, including traps
("squat 315 405", "1200 kcal", "this workout is killer", "hit me up at the gym");
``abusive.tsv`` holds one expected category per line, plain and disguised (leet, spacing,
zero-width characters, homoglyphs, full-width letters, "dot com").

Per category: precision = of the lines given the category, how many carry that label; recall =
of the lines labelled with it, how many got it. ``clean``: precision = of the lines judged clean,
how many are clean; recall = of the clean lines, how many were judged clean (1 - false-positive
rate). ``decision`` = lines whose decision (clean / flagged / hidden) is the expected one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from yoked_actors.moderation import moderate, training
from yoked_actors.moderation.decision import CATEGORIES, GRAVE

EVAL = Path(__file__).resolve().parent.parent / "eval" / "moderation"


def load_set(directory: Path = EVAL) -> list[tuple[str, str]]:
    """(label, text) pairs of every corpus file directly in ``directory`` (all test parts for
    ``--split test``); label "clean" or a category."""
    return training.read_corpus(training.corpus_files(directory))


def expected_decision(label: str) -> str:
    if label == "clean":
        return "clean"
    return "hidden" if label in GRAVE else "flagged"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--errors", action="store_true", help="print every misjudged line")
    parser.add_argument("--split", choices=("original", "test"), default="original")
    arguments = parser.parse_args()
    data = load_set(EVAL / "test" if arguments.split == "test" else EVAL)
    moderate("warm up")  # load the classifier outside the timing
    started = time.perf_counter()
    verdicts = [moderate(text) for _, text in data]
    elapsed = time.perf_counter() - started

    print(
        f"{len(data)} lines ({sum(1 for label, _ in data if label == 'clean')} clean), "
        f"engine: {verdicts[0].engine_version}"
    )
    print(f"engine time: {elapsed / len(data) * 1000:.2f} ms per line (one thread)\n")
    rows = [(label, v) for (label, _), v in zip(data, verdicts, strict=True)]
    print(f"{'category':<14}{'support':>8}{'precision':>11}{'recall':>8}")
    for category in CATEGORIES:
        labelled = [v for label, v in rows if label == category]
        predicted = [label for label, v in rows if category in v.categories]
        hits = sum(1 for v in labelled if category in v.categories)
        precision = predicted.count(category) / len(predicted) if predicted else float("nan")
        recall = hits / len(labelled) if labelled else float("nan")
        print(f"{category:<14}{len(labelled):>8}{precision:>11.3f}{recall:>8.3f}")
    judged_clean = [label for label, v in rows if v.decision == "clean"]
    clean_lines = [v for label, v in rows if label == "clean"]
    clean_precision = judged_clean.count("clean") / len(judged_clean)
    clean_recall = sum(1 for v in clean_lines if v.decision == "clean") / len(clean_lines)
    print(f"{'clean':<14}{len(clean_lines):>8}{clean_precision:>11.3f}{clean_recall:>8.3f}")
    abusive = [v for label, v in rows if label != "clean"]
    caught = sum(1 for v in abusive if v.decision != "clean")
    flagged = [label for label, v in rows if v.decision != "clean"]
    flag_precision = sum(1 for label in flagged if label != "clean") / len(flagged)
    print(
        f"\nany abuse caught (recall): {caught}/{len(abusive)} = {caught / len(abusive):.3f}; "
        f"flagged-or-hidden precision: {flag_precision:.3f}"
    )
    right = sum(1 for label, v in rows if v.decision == expected_decision(label))
    print(f"decision as expected: {right}/{len(data)} = {right / len(data):.3f}")
    if arguments.errors:
        print("\nmisjudged (expected label -> decision, categories):")
        for (label, text), v in zip(data, verdicts, strict=True):
            wrong_category = label != "clean" and v.categories != [label]
            if v.decision != expected_decision(label) or wrong_category:
                print(
                    f"  {label:>12} -> {v.decision:<8} {','.join(v.categories) or '-':<24} {text!r}"
                )


if __name__ == "__main__":
    main()
