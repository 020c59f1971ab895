"""From category scores to a decision: ``clean``, ``flagged`` or ``hidden``.

Policy (docs/moderation.md), all in this one module:

- a category counts when its score is at least :data:`THRESHOLD`; a score is the higher of the
  rules' confidence and the learned classifier's probability calibrated against its category's
  threshold in :data:`THRESHOLDS` (the one documented place to tune them);
- severity tiers: the grave categories (:data:`GRAVE`: threats, identity hate, self-harm
  encouragement, sexual coercion) hide the message from the recipient; any other counted
  category flags the message (delivered, a strike, reviewable);
- the hold (:func:`held_for_review`): a hidden message whose grave category counts on the rules'
  own score (lexicons, detectors) suspends its sender at once; one that counts only because of
  the learned classifier or the remote provider is *held for review*: hidden, a strike, first in
  the review queue, and the sender is suspended only when a person upholds it. The learned part
  judges some clean gym talk grave (about 1-3 % of held-out lines): a message hidden in error
  is a small harm a reviewer undoes; a suspension at once is not;
- ``profanity`` (the profanity classifier's score) is reported but never counts on its own:
  friends swear about their workouts; profanity aimed at the reader raises ``harassment``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

CATEGORIES = (
    "harassment",
    "threats",
    "hate",
    "sexual",
    "coercion",
    "self_harm",
    "drugs",
    "scam",
    "payment",
    "off_platform",
)
#: The learned classifier's probability at or above which a category counts: the one place to
#: tune them. Chosen without the test split: a head fitted on eval/moderation/train/ alone was run
#: on the original hand-written set (eval/moderation/*.tsv, *.txt) as a development set, and
#: these are the lowest of the grid (0.5/0.6 .. 0.8/0.9) whose false alarms on its clean gym
#: talk were near 3 %: 0.7 for the grave tier (a miss reaches a user), 0.8 for the rest (a false
#: alarm costs an innocent user a strike). The engine maps each probability so that its
#: threshold lands on :data:`THRESHOLD` (:func:`calibrated`); rules score on that scale directly.
THRESHOLDS: dict[str, float] = {
    "harassment": 0.8,
    "threats": 0.7,
    "hate": 0.7,
    "sexual": 0.8,
    "coercion": 0.7,
    "self_harm": 0.7,
    "drugs": 0.8,
    "scam": 0.8,
    "payment": 0.8,
    "off_platform": 0.8,
}
#: A category counts when its (rule or calibrated learned) score is at least this.
THRESHOLD = 0.5
GRAVE = frozenset({"threats", "hate", "self_harm", "coercion"})
DECISIONS = ("clean", "flagged", "hidden")


def counted(scores: Mapping[str, float]) -> list[str]:
    """The categories that count, in :data:`CATEGORIES` order."""
    return [name for name in CATEGORIES if scores.get(name, 0.0) >= THRESHOLD]


def calibrated(category: str, probability: float) -> float:
    """The learned probability on the decision scale: piecewise linear, its threshold -> 0.5."""
    threshold = THRESHOLDS[category]
    if probability < threshold:
        return probability * THRESHOLD / threshold
    return THRESHOLD + (probability - threshold) * (1 - THRESHOLD) / (1 - threshold)


def held_for_review(decision: str, rules_categories: Iterable[str]) -> bool:
    """True when ``decision`` is ``hidden`` but no grave category counts on the rules alone:
    hide and queue for review, suspend only when a person upholds it."""
    return decision == "hidden" and not any(name in GRAVE for name in rules_categories)


def decide(scores: Mapping[str, float]) -> str:
    """``hidden`` if a grave category counts, ``flagged`` if another does, else ``clean``."""
    hits = counted(scores)
    if any(name in GRAVE for name in hits):
        return "hidden"
    return "flagged" if hits else "clean"
