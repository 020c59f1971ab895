"""Training and evaluation of the learned classifier (``yoked moderation train`` / ``eval``).

The corpus is labelled text in the repository: ``category<TAB>text`` lines (``.tsv``) and clean
lines (``.txt``, one message a line), ``#`` lines are comments. Training reads
``eval/moderation/train/`` and the original evaluation set (``eval/moderation/abusive.tsv``,
``clean.txt``); the test split ``eval/moderation/test/`` is read only by ``eval``, never here.

Training is deterministic: sorted, de-duplicated rows, liblinear (no random state involved), and
an artifact written without timestamps, so the same corpus gives the same bytes and digest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yoked_actors.moderation import learned
from yoked_actors.moderation.decision import CATEGORIES, GRAVE
from yoked_actors.moderation.normalize import normalize

#: Categories the head learns (the detectors of contact and payment details stay rules too).
LEARNED = CATEGORIES
#: Inverse regularisation strength of each per-category logistic regression.
C = 4.0


def read_corpus(paths: Iterable[Path]) -> list[tuple[str, str]]:
    """(category, text) rows from ``.tsv`` and ``.txt`` files (``.txt`` lines are clean)."""
    rows: set[tuple[str, str]] = set()
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            if path.suffix == ".tsv":
                category, _, text = line.partition("\t")
                if category not in (*CATEGORIES, "clean"):
                    raise ValueError(f"{path}: unknown category {category!r}")
                rows.add((category, text))
            else:
                rows.add(("clean", line))
    return sorted(rows)


def corpus_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in (".tsv", ".txt") and p.is_file())


def training_files(root: Path) -> list[Path]:
    """The training corpus under ``root`` (``eval/moderation``): never the test split."""
    return corpus_files(root / "train") + corpus_files(root)


def _matrix(texts: Sequence[str]) -> Any:
    from scipy import sparse

    rows, cols, vals = [], [], []
    for row, text in enumerate(texts):
        index, value = learned.hashed_features(text)
        rows.extend([row] * len(index))
        cols.extend(index.tolist())
        vals.extend(value.tolist())
    hashed = sparse.csr_matrix(
        (vals, (rows, cols)), shape=(len(texts), learned.HASH_BUCKETS), dtype=np.float64
    )
    dense = sparse.csr_matrix(learned.embed(texts))
    return sparse.hstack([hashed, dense], format="csr")


def train(rows: Sequence[tuple[str, str]], out: Path = learned.ARTIFACT) -> str:
    """Fit one logistic regression per category on ``rows``; write the artifact, return digest."""
    from sklearn.linear_model import LogisticRegression

    texts = [normalize(text).words for _, text in rows]
    labels = np.array([category for category, _ in rows])
    features = _matrix(texts)
    hashed = np.zeros((learned.HASH_BUCKETS, len(LEARNED)))
    dense = np.zeros((learned.EMBEDDING_DIM, len(LEARNED)))
    bias = np.zeros(len(LEARNED))
    for column, category in enumerate(LEARNED):
        target = (labels == category).astype(int)
        model = LogisticRegression(C=C, solver="liblinear", class_weight="balanced")
        model.fit(features, target)
        weights = model.coef_[0]
        hashed[:, column] = weights[: learned.HASH_BUCKETS]
        dense[:, column] = weights[learned.HASH_BUCKETS :]
        bias[column] = model.intercept_[0]
    return learned.save(out, LEARNED, hashed, dense, bias)


@dataclass
class Report:
    """Per-category precision and recall, and the figures of the done-when criteria."""

    per_category: dict[str, tuple[float, float, int]]  # precision, recall, lines
    abusive_caught: float
    grave_hidden: float
    clean_false_alarms: float
    lines: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "per_category": {
                name: {"precision": p, "recall": r, "lines": n}
                for name, (p, r, n) in self.per_category.items()
            },
            "abusive_caught": self.abusive_caught,
            "grave_hidden": self.grave_hidden,
            "clean_false_alarms": self.clean_false_alarms,
            "lines": self.lines,
        }


def evaluate(
    rows: Sequence[tuple[str, str]], judge: Callable[[str], tuple[str, list[str]]]
) -> Report:
    """Judge every row; ``judge(text)`` returns (decision, categories that counted)."""
    verdicts = [judge(text) for _, text in rows]
    per_category: dict[str, tuple[float, float, int]] = {}
    for name in CATEGORIES:
        truth = [category == name for category, _ in rows]
        predicted = [name in categories for _, categories in verdicts]
        hits = sum(t and p for t, p in zip(truth, predicted, strict=True))
        n_true, n_pred = sum(truth), sum(predicted)
        if n_true:
            precision = hits / n_pred if n_pred else 0.0
            per_category[name] = (round(precision, 3), round(hits / n_true, 3), n_true)
    abusive = [v for (c, _), v in zip(rows, verdicts, strict=True) if c != "clean"]
    grave = [v for (c, _), v in zip(rows, verdicts, strict=True) if c in GRAVE]
    clean = [v for (c, _), v in zip(rows, verdicts, strict=True) if c == "clean"]
    return Report(
        per_category=per_category,
        abusive_caught=_share(abusive, lambda v: v[0] != "clean"),
        grave_hidden=_share(grave, lambda v: v[0] == "hidden"),
        clean_false_alarms=_share(clean, lambda v: v[0] != "clean"),
        lines=len(rows),
    )


def _share(items: Sequence[Any], test: Callable[[Any], bool]) -> float:
    return round(sum(1 for item in items if test(item)) / len(items), 3) if items else 0.0
