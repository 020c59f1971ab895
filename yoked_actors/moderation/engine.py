"""The moderation engine: normalize, detect, classify, decide. Offline and deterministic.

``moderate(text)`` returns a :class:`Verdict`: the decision, a score per category, the names of
the detectors that fired (never the text they matched) and the engine version. With a remote
provider configured (``provider.py``), its scores are merged in (the higher score wins) and any
failure of the provider falls back to the local result. The verdict also says which categories
count on the rules alone (``rules_categories``): a grave category found only by the learned
classifier or the provider is held for review instead of suspending at once (``decision.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from yoked_actors.moderation import cascade, classifier, detectors, learned
from yoked_actors.moderation.decision import (
    CATEGORIES,
    GRAVE,
    THRESHOLD,
    calibrated,
    counted,
    decide,
    held_for_review,
)
from yoked_actors.moderation.lexicons import CONTEXT_CAP, LEXICONS, reported_or_joking
from yoked_actors.moderation.normalize import Normalized, normalize
from yoked_actors.settings import get_settings

#: Bump when lexicons, detectors or the policy change: results record which engine judged them.
RULES_VERSION = "2026.12.2"

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


def encoder_enabled() -> bool:
    """Whether uncertain lines are judged again by the encoder head (``cascade.py``): the
    learned classifier on, ``MODERATION_ENCODER=on`` and the head's file and package present."""
    return learned_enabled() and get_settings().moderation_encoder and cascade.available()


def engine_version() -> str:
    """Rules version, classifier versions and the trained heads' digests, recorded with results."""
    return _engine_version(learned_enabled(), encoder_enabled())


@cache  # importlib.metadata is slow (about 2 ms a call)
def _engine_version(with_learned: bool, with_encoder: bool = False) -> str:
    parts = [f"yoked-moderation {RULES_VERSION}", classifier.classifier_version()]
    if with_learned:
        parts.append(learned.version())
    if with_encoder:
        parts.append(cascade.version())
    return "; ".join(parts)


def warm_up() -> None:
    """Load every model now (worker boot), so that no message pays for loading."""
    classifier.load()
    if learned_enabled():
        learned.load()
    if encoder_enabled():
        cascade.load()
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
    #: The categories that count on the rules' own scores (lexicons, detectors), without the
    #: learned classifier or the remote provider: the verdict's provenance, never text.
    rules_categories: list[str] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        """The categories that count towards the decision."""
        return counted(self.scores)

    @property
    def held(self) -> bool:
        """Hidden only on the learned classifier's (or provider's) word: held for review, the
        sender not suspended until a person upholds it (``decision.held_for_review``)."""
        return held_for_review(self.decision, self.rules_categories)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``yoked moderate --json`` prints and the results table stores."""
        return {
            "decision": self.decision,
            "categories": self.categories,
            "scores": self.scores,
            "signals": self.signals,
            "engine_version": self.engine_version,
            "source": self.source,
            "rules_categories": self.rules_categories,
            "held": self.held,
        }


def local_scores(text: str) -> tuple[dict[str, float], list[str]]:
    """Scores per category from the lexicons, detectors and classifiers, and the signals."""
    rules, learned_part, signals = _local_parts(normalize(text))
    return _merged(rules, learned_part), signals


def _local_parts(views: Normalized) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """The rules' scores (lexicons, detectors, profanity aimed at the reader; plus the
    ``profanity`` score), the learned classifier's calibrated scores (empty when it is off),
    and the signals."""
    rules = {name: 0.0 for name in CATEGORIES}
    cap = CONTEXT_CAP if reported_or_joking(views.plain) else 1.0
    for lexicon in LEXICONS:
        rules[lexicon.category] = min(cap, lexicon.score(views.squeezed, views.words))
    found, signals = detectors.detect(views.plain)
    for name, score in found.items():
        rules[name] = max(rules[name], score)
    profanity = classifier.profanity(views.words) if views.words else 0.0
    rules["profanity"] = profanity
    if (
        profanity >= PROFANITY_AT_READER
        and _SECOND_PERSON.search(views.words)
        and not _PRAISE.search(views.words)
    ):
        rules["harassment"] = max(rules["harassment"], 0.6)
        signals.append("profanity_at_reader")
    learned_part: dict[str, float] = {}
    if views.words and learned_enabled():
        probabilities = learned.load().scores(views.words)
        rules_hidden = any(rules[name] >= THRESHOLD for name in GRAVE)
        if encoder_enabled() and cascade.uncertain(probabilities, rules_hidden):
            probabilities = cascade.load().scores(views.words)
        learned_part = {name: calibrated(name, p) for name, p in probabilities.items()}
    return rules, learned_part, signals


def _merged(scores: dict[str, float], *others: Mapping[str, float]) -> dict[str, float]:
    """``scores`` with every known category raised to the highest of ``others``' scores."""
    merged = dict(scores)
    for other in others:
        for name, score in other.items():
            if name in merged:
                merged[name] = max(merged[name], score)
    return merged


def moderate(text: str, *, provider: Any = None) -> Verdict:
    """Judge ``text``. With ``provider`` (a ``provider.Provider``), merge its scores.

    Never raises because of the provider: a timeout or error gives the local verdict with
    ``source="fallback"``. Which categories count on the rules alone is kept
    (``rules_categories``): the hold policy (``decision.held_for_review``) depends on it.
    """
    rules, learned_part, signals = _local_parts(normalize(text))
    scores = _merged(rules, learned_part)
    source = "local"
    if provider is not None:
        remote = provider.moderate(text)
        if remote is None:
            source = "fallback"
        else:
            source = "remote"
            scores = _merged(scores, remote)
    return Verdict(
        decision=decide(scores),
        scores={name: round(score, 3) for name, score in scores.items()},
        signals=signals,
        engine_version=engine_version(),
        source=source,
        rules_categories=counted({name: round(score, 3) for name, score in rules.items()}),
    )
