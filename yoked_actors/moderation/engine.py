"""The moderation engine: normalize, detect, classify, decide. Offline and deterministic.

``moderate(text)`` returns a :class:`Verdict`: the decision, a score per category, the names of
the detectors that fired (never the text they matched) and the engine version. With a remote
provider configured (``provider.py``), its scores are merged in (the higher score wins) and any
failure of the provider falls back to the local result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from yoked_actors.moderation import classifier, detectors, learned
from yoked_actors.moderation.decision import CATEGORIES, calibrated, counted, decide
from yoked_actors.moderation.lexicons import LEXICONS
from yoked_actors.moderation.normalize import normalize
from yoked_actors.settings import get_settings

#: Bump when lexicons, detectors or the policy change: results record which engine judged them.
RULES_VERSION = "2026.11.1"

#: The classifier's score at which profanity aimed at the reader counts as harassment.
PROFANITY_AT_READER = 0.95
_SECOND_PERSON = re.compile(r"(?<![a-z])(you|u|ur|your|youre|you're|ya|yourself)(?![a-z])")
#: Praise: "fuck yeah you crushed it" is swearing, but not at anyone.
_PRAISE = re.compile(
    r"(?<![a-z])(crush\w*|kil(l|led|ling) it|smash\w*|beast|strong|proud|great|awesome|nice|"
    r"congrat\w*|pr|prs|amazing|insane|sick|legend|goat|love|good job|well done|lol|haha)(?![a-z])"
)


def learned_enabled() -> bool:
    """Whether the learned classifier takes part: ``MODERATION_LEARNED=on`` and its trained
    files present (``settings.py`` says what the default is)."""
    return get_settings().moderation_learned and learned.available()


def engine_version() -> str:
    """Rules version, classifier versions and the trained head's digest, recorded with results."""
    return _engine_version(learned_enabled())


@cache  # importlib.metadata is slow (about 2 ms a call)
def _engine_version(with_learned: bool) -> str:
    parts = [f"yoked-moderation {RULES_VERSION}", classifier.classifier_version()]
    if with_learned:
        parts.append(learned.version())
    return "; ".join(parts)


def warm_up() -> None:
    """Load every model now (worker boot), so that no message pays for loading."""
    classifier.load()
    if learned_enabled():
        learned.load()
    engine_version()


@dataclass(frozen=True)
class Verdict:
    """What the engine decided about one text."""

    decision: str
    #: Score in [0, 1] for every category of ``decision.CATEGORIES``, and ``profanity``.
    scores: dict[str, float]
    #: Names of the detectors that fired ("phone", "email", "link", ...), never matched text.
    signals: list[str] = field(default_factory=list)
    engine_version: str = ""
    #: "local", "remote" (provider scores merged in) or "fallback" (provider failed).
    source: str = "local"

    @property
    def categories(self) -> list[str]:
        """The categories that count towards the decision."""
        return counted(self.scores)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``yoked moderate --json`` prints and the results table stores."""
        return {
            "decision": self.decision,
            "categories": self.categories,
            "scores": self.scores,
            "signals": self.signals,
            "engine_version": self.engine_version,
            "source": self.source,
        }


def local_scores(text: str) -> tuple[dict[str, float], list[str]]:
    """Scores per category from the lexicons, detectors and classifier, and the signals."""
    views = normalize(text)
    scores = {name: 0.0 for name in CATEGORIES}
    for lexicon in LEXICONS:
        scores[lexicon.category] = lexicon.score(views.squeezed)
    if views.words and learned_enabled():
        for name, score in learned.load().scores(views.words).items():
            scores[name] = max(scores[name], calibrated(name, score))
    found, signals = detectors.detect(views.plain)
    for name, score in found.items():
        scores[name] = max(scores[name], score)
    profanity = classifier.profanity(views.words) if views.words else 0.0
    scores["profanity"] = profanity
    if (
        profanity >= PROFANITY_AT_READER
        and _SECOND_PERSON.search(views.words)
        and not _PRAISE.search(views.words)
    ):
        scores["harassment"] = max(scores["harassment"], 0.6)
        signals.append("profanity_at_reader")
    return scores, signals


def moderate(text: str, *, provider: Any = None) -> Verdict:
    """Judge ``text``. With ``provider`` (a ``provider.Provider``), merge its scores.

    Never raises because of the provider: a timeout or error gives the local verdict with
    ``source="fallback"``.
    """
    scores, signals = local_scores(text)
    source = "local"
    if provider is not None:
        remote = provider.moderate(text)
        if remote is None:
            source = "fallback"
        else:
            source = "remote"
            for name, score in remote.items():
                if name in scores:
                    scores[name] = max(scores[name], score)
    return Verdict(
        decision=decide(scores),
        scores={name: round(score, 3) for name, score in scores.items()},
        signals=signals,
        engine_version=engine_version(),
        source=source,
    )
