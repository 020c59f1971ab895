"""Content moderation: an offline engine that judges one chat line (docs/moderation.md).

``moderate(text)`` -> :class:`Verdict` (decision ``clean`` / ``flagged`` / ``hidden``, a score
per category, the engine version). No database, no network unless a remote provider is given
(:mod:`.provider`). :mod:`.store` holds the SQL of the job that records verdicts
(:mod:`yoked_actors.actors.moderation`).
"""

from yoked_actors.moderation.engine import Verdict, engine_version, moderate

__all__ = ["Verdict", "engine_version", "moderate"]
