"""The offline profanity classifier: alt-profanity-check's model, shipped inside its wheel.

Nothing is downloaded at run time. The package's own ``predict_prob`` costs about 6 ms per
call, almost all of it scikit-learn's per-call checks around five tiny linear models, which
would cap a worker process near 150 decisions/s. So the same model is evaluated here with numpy:
the TF-IDF vectoriser as shipped, then for each of the five calibrated LinearSVC folds
``sigmoid(-(a * (x . w + c) + b))``, averaged. :func:`load` checks on a few texts that this
equals the package's ``predict_prob`` and uses the package's function if it ever does not (a
new release with another model shape).

Loading scikit-learn takes about two seconds: the model is loaded once per process on first use
(workers warm it at boot, ``actors/moderation.py``).
"""

from __future__ import annotations

import threading
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
    folds = model.calibrated_classifiers_
    weights = np.stack([fold.estimator.coef_[0] for fold in folds])  # (folds, features)
    intercepts = np.array([fold.estimator.intercept_[0] for fold in folds])
    a = np.array([fold.calibrators[0].a_ for fold in folds])
    b = np.array([fold.calibrators[0].b_ for fold in folds])
    weights_t = weights.T.copy()

    def predict(texts: Sequence[str]) -> Any:
        features = vectorizer.transform(texts)  # sparse (texts, features)
        decision = features @ weights_t + intercepts  # (texts, folds)
        return (1.0 / (1.0 + np.exp(a * decision + b))).mean(axis=1)

    return predict


def load() -> Callable[[Sequence[str]], Any]:
    """A function texts -> profanity probabilities (loaded once, thread-safe)."""
    global _predict
    if _predict is None:
        with _lock:
            if _predict is None:
                from profanity_check import profanity_check as package

                predict: Callable[[Sequence[str]], Any] = package.predict_prob
                try:
                    fast = _fast_predictor(package.vectorizer, package.model)
                    if np.allclose(fast(_CHECK_TEXTS), package.predict_prob(_CHECK_TEXTS)):
                        predict = fast
                except (AttributeError, IndexError, ValueError):
                    pass  # another model layout: keep the package's own (slower) function
                _predict = predict
    return _predict


def profanity(text: str) -> float:
    """Probability in [0, 1] that ``text`` is profane, rounded to 3 places."""
    return round(float(load()([text])[0]), 3)
