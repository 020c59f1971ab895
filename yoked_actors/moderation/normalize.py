# ruff: noqa: RUF001  (lookalike characters are this module's subject)
"""Text normalization: undo the tricks people use to slip words past a filter.

:func:`normalize` returns two views of one text, both lower-case:

- ``plain``: Unicode NFKC (full-width and "fancy" letters become ASCII), invisible characters
  removed, combining marks removed, homoglyphs (Cyrillic and Greek lookalikes) mapped to Latin.
  Digits are kept as typed: contact detectors (phone numbers, links) read this view.
- ``words``: ``plain`` plus leetspeak decoded inside words that contain a letter, single letters
  spaced out ("f u c k", "f.u.c.k") joined, and runs of three or more equal characters cut to
  two. The classifier reads this view.
- ``squeezed``: ``words`` with every run of equal characters cut to one ("fuuuck" -> "fuck",
  "kill" -> "kil"). Lexicons read this view; their terms are squeezed the same way.

Pure digits are never decoded as leetspeak, so gym numbers ("455", "315 405") stay numbers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: Lookalikes that NFKC leaves alone: Cyrillic and Greek letters drawn like Latin ones.
HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i",
        "ј": "j", "ԁ": "d", "ɡ": "g", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ү": "y",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "μ": "u",
        # Latin lookalikes outside ASCII
        "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ß": "ss",
    }
)  # fmt: skip

#: Leetspeak, applied only inside tokens that also contain a letter.
LEET = str.maketrans(
    {
        "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
        "@": "a", "$": "s", "!": "i", "|": "l", "+": "t", "€": "e", "£": "l", "*": "u",
    }
)  # fmt: skip

_LEET_CHARS = re.escape("013457789@$!|+€£*")
#: A run of letters, digits and leet symbols with at least one letter: "sh1t", "@ss", "b00bs".
_TOKEN = re.compile(rf"[\w{_LEET_CHARS}]*[a-z][\w{_LEET_CHARS}]*")
#: Three or more single characters separated by spaces or punctuation: "f u c k", "k.y.s".
_SPACED = re.compile(r"(?<![a-z0-9])(?:[a-z0-9][\s._\-*~/\\]{1,3}){2,}[a-z0-9](?![a-z0-9])")
_SEPARATORS = re.compile(r"[\s._\-*~/\\]+")
_REPEATS = re.compile(r"(.)\1{2,}")
_ANY_REPEAT = re.compile(r"(.)\1+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Normalized:
    """The two views of a text that the detectors read (see the module docstring)."""

    plain: str
    words: str
    squeezed: str


def _is_invisible(char: str) -> bool:
    # Cf: zero-width spaces and joiners, soft hyphen, bidi marks, word joiner, BOM.
    # Mn/Me: combining marks ("z̶a̶l̶g̶o̶" and accents stacked on letters).
    return unicodedata.category(char) in ("Cf", "Mn", "Me")


def fold(text: str) -> str:
    """NFKC, invisible characters and combining marks removed, homoglyphs mapped, lower-case."""
    text = unicodedata.normalize("NFKC", text)
    text = unicodedata.normalize("NFD", text)
    text = "".join(char for char in text if not _is_invisible(char))
    text = unicodedata.normalize("NFC", text).casefold().translate(HOMOGLYPHS)
    return _SPACES.sub(" ", text).strip()


def _decode_leet(match: re.Match[str]) -> str:
    return match.group(0).translate(LEET)


def _join_spaced(match: re.Match[str]) -> str:
    # Word breaks are lost ("k i l l y o u" -> "killyou"): lexicon phrases match words run
    # together for that reason (lexicons.py).
    return _SEPARATORS.sub("", match.group(0))


def normalize(text: str) -> Normalized:
    """Both views of ``text``. Pure and fast (tens of microseconds for a chat line)."""
    plain = fold(text)
    words = _TOKEN.sub(_decode_leet, plain)
    words = _SPACED.sub(_join_spaced, words)
    words = _REPEATS.sub(r"\1\1", words)
    return Normalized(plain=plain, words=words, squeezed=squeeze(words))


def squeeze(text: str) -> str:
    """Every run of one repeated character cut to one character."""
    return _ANY_REPEAT.sub(r"\1", text)
