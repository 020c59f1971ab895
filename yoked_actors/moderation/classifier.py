"""The offline profanity classifier: alt-profanity-check's model, shipped inside its wheel.

Nothing is downloaded at run time. The package's own ``predict_prob`` costs about 6 ms per
call, almost all of it scikit-learn's per-call checks around a TF-IDF vectoriser and five tiny
linear models, which would cap a worker process near 150 decisions/s. So the same model is
evaluated here directly, from the fitted vocabulary, idf weights and coefficients: TF-IDF of the
text's known words (l2-normalised), then for each of the five calibrated LinearSVC folds
``sigmoid(-(a * (x . w + c) + b))``, averaged (about 30 microseconds). :func:`load` checks
on a few texts that this equals the package's ``predict_prob`` and uses the package's function
if it ever does not (a new release with another model shape); a test compares the two on the
whole evaluation set.

Loading the model (and scikit-learn, to unpickle it) takes about two seconds, once per process,
on the first message it judges.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any

import numpy as np

_lock = threading.Lock()
_predict: Callable[[Sequence[str]], Any] | None = None
_CHECK_TEXTS = ("you are a fucking idiot", "great squat session today", "shit", "hello there")


def classifier_version() -> str:
    """Name and version of the model package, part of the engine version."""
    return f"alt-profanity-check {version('alt-profanity-check')}"


def _fast_predictor(vectorizer: Any, model: Any) -> Callable[[Sequence[str]], Any]:
    # The vectoriser is a word-unigram TF-IDF (l2 norm, smoothed idf, no sublinear tf); stop
    # words are simply absent from its vocabulary, so skipping unknown tokens drops them too.
    if (vectorizer.analyzer, vectorizer.ngram_range, vectorizer.norm) != ("word", (1, 1), "l2"):
        raise ValueError("unexpected vectoriser")
    if vectorizer.sublinear_tf or vectorizer.binary or not vectorizer.lowercase:
        raise ValueError("unexpected vectoriser")
    token = re.compile(vectorizer.token_pattern)
    vocabulary: dict[str, int] = vectorizer.vocabulary_
    idf = vectorizer.idf_
    folds = model.calibrated_classifiers_
    weights = np.stack([fold.estimator.coef_[0] for fold in folds]).T.copy()  # (features, folds)
    intercepts = np.array([fold.estimator.intercept_[0] for fold in folds])
    a = np.array([fold.calibrators[0].a_ for fold in folds])
    b = np.array([fold.calibrators[0].b_ for fold in folds])

    def one(text: str) -> float:
        counts = Counter(
            vocabulary[word] for word in token.findall(text.lower()) if word in vocabulary
        )
        decision = intercepts
        if counts:
            columns = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            tfidf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            tfidf *= idf[columns]
            tfidf /= np.sqrt(np.dot(tfidf, tfidf))
            decision = tfidf @ weights[columns] + intercepts
        return float((1.0 / (1.0 + np.exp(a * decision + b))).mean())

    def predict(texts: Sequence[str]) -> Any:
        return np.array([one(text) for text in texts])

    return predict


def load() -> Callable[[Sequence[str]], Any]:
    """A function texts -> profanity probabilities (loaded once, thread-safe)."""
    global _predict
    if _predict is None:
        with _lock:
            if _predict is None:
                from profanity_check import profanity_check as package

                predict: Callable[[Sequence[str]], Any] = package.predict_prob
                # Another model layout raises here: keep the package's own (slower) function.
                with contextlib.suppress(AttributeError, IndexError, ValueError):
                    fast = _fast_predictor(package.vectorizer, package.model)
                    if np.allclose(fast(_CHECK_TEXTS), package.predict_prob(_CHECK_TEXTS)):
                        predict = fast
                _predict = predict
    return _predict


def profanity(text: str) -> float:
    """Probability in [0, 1] that ``text`` is profane, rounded to 3 places."""
    return round(float(load()([text])[0]), 3)
