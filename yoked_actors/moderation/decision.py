"""From category scores to a decision: ``clean``, ``flagged`` or ``hidden``.

Policy (docs/moderation.md):

- a category counts when its score is at least :data:`THRESHOLD`;
- the gravest categories (:data:`GRAVE`: threats, hate, self-harm encouragement) hide the
  message from the recipient at once, and suspend the sender at once;
- any other counted category flags the message (delivered, queued for review, a strike);
- ``profanity`` (the classifier's score) is reported but never counts on its own: friends swear
  about their workouts; profanity aimed at the reader raises ``harassment`` instead (engine.py).
"""

from __future__ import annotations

from collections.abc import Mapping

THRESHOLD = 0.5
CATEGORIES = (
    "harassment",
    "threats",
    "hate",
    "sexual",
    "self_harm",
    "scam",
    "payment",
    "off_platform",
)
GRAVE = frozenset({"threats", "hate", "self_harm"})
DECISIONS = ("clean", "flagged", "hidden")


def counted(scores: Mapping[str, float]) -> list[str]:
    """The categories that count, in :data:`CATEGORIES` order."""
    return [name for name in CATEGORIES if scores.get(name, 0.0) >= THRESHOLD]


def decide(scores: Mapping[str, float]) -> str:
    """``hidden`` if a grave category counts, ``flagged`` if another does, else ``clean``."""
    hits = counted(scores)
    if any(name in GRAVE for name in hits):
        return "hidden"
    return "flagged" if hits else "clean"
