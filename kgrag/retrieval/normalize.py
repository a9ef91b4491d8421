"""Question text normalization: one function shared by questions and dictionary names.

``normalize_question`` makes text comparable with the KG's names: NFKC-style compatibility
folding (full-width → half-width), case folding, accent stripping, traditional → simplified
Chinese (OpenCC tables, via ``opencc-python-reimplemented``), emoji and control characters
removed, whitespace collapsed. :func:`normalize_with_offsets` does the same and keeps, for every
output character, the index of the input character it came from, so a match found in the
normalized text can be reported as a span of the user's own text.

Examples:
    >>> normalize_question("  糖尿病人該掛什麼科？😷 ")
    '糖尿病人该挂什么科?'
    >>> normalize_question("ＷＨＡＴ is  Hypertension")
    'what is hypertension'
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kgrag.errors import ConfigError, QuestionError
from kgrag.limits import MAX_QUESTION_CHARS
from kgrag.text import collapse_whitespace

# Removed outright: zero-width and format characters (ZWJ, ZWSP, BOM, bidi marks), combining
# marks (accents after NFKD, emoji variation selectors, keycap enclosures).
_DROP = frozenset({"Cf", "Mn", "Me"})
# Replaced by a space: symbols (emoji are ``So``, skin tones ``Sk``), control, unassigned,
# private-use characters and lone surrogates, so words on either side stay apart.
_SPACE = frozenset({"So", "Sk", "Cc", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})
# Typographic punctuation NFKC keeps but users type both ways.
_PUNCT = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u30fb": "·",
}


def _fold_char(c: str) -> str:
    """Fold one character: casefold, compatibility-decompose (NFKD), fold each part again,
    drop marks, recompose (NFC). Folding the parts again makes the fold idempotent."""
    if c.isspace():
        return " "
    cat = unicodedata.category(c)
    if cat in _DROP:
        return ""
    if cat in _SPACE:
        return " "
    if c in _PUNCT:
        return _PUNCT[c]
    parts = unicodedata.normalize("NFKD", c.casefold())
    if parts == c:
        return c
    return unicodedata.normalize("NFC", "".join(_fold_char(p) for p in parts))


class _FoldTable(dict[int, str]):
    """``str.translate`` table computed lazily, one code point at a time.

    Hand-written because no library folds per character with memoization; ``str.translate``
    then runs in C, which keeps normalizing the KG's ~400k names to about a second.
    """

    def __missing__(self, cp: int) -> str:
        folded = _fold_char(chr(cp))
        self[cp] = folded
        return folded


_FOLD = _FoldTable()


@lru_cache(maxsize=1)
def _t2s() -> Any:
    """The OpenCC traditional → simplified converter (loaded once, on first Chinese input)."""
    try:
        from opencc import OpenCC
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "traditional Chinese needs opencc: pip install opencc-python-reimplemented "
            "(or pip install -e '.[retrieval]')"
        ) from exc
    try:
        return OpenCC("t2s")
    except Exception:  # the official `opencc` package names its configs with .json
        return OpenCC("t2s.json")


class _TradChars(dict[str, bool]):
    """Whether OpenCC changes a character on its own; memoized, so simplified text (nearly all
    input) skips the phrase-level conversion entirely."""

    def __missing__(self, ch: str) -> bool:
        changed = ch > "\u2e7f" and _t2s().convert(ch) != ch
        self[ch] = changed
        return changed


_TRAD = _TradChars()


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (phrase-aware); other text is returned unchanged.

    The result has the same length as ``text`` (falls back to character-by-character
    conversion in the rare case a phrase table would change the length), so offsets survive.
    """
    if text.isascii() or not any(_TRAD[ch] for ch in text):
        return text
    out: str = _t2s().convert(text)
    if len(out) != len(text):
        out = "".join(_t2s().convert(ch) if _TRAD[ch] else ch for ch in text)
    return out


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Normalized text and where each of its characters came from.

    Attributes:
        text: the normalized text.
        original: the input.
        offsets: ``offsets[i]`` is the index in ``original`` of the character that produced
            ``text[i]``.
    """

    text: str
    original: str
    offsets: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of ``original`` that ``text[start:end]`` came from (``end > start``)."""
        return self.offsets[start], self.offsets[end - 1] + 1


def normalize_with_offsets(text: str) -> NormalizedText:
    """Normalize ``text`` like :func:`normalize_question`, keeping a map back to the input."""
    chars: list[str] = []
    offsets: list[int] = []
    for i, c in enumerate(text):
        for f in _FOLD[ord(c)]:
            if f == " " and (not chars or chars[-1] == " "):
                continue
            chars.append(f)
            offsets.append(i)
    if chars and chars[-1] == " ":
        chars.pop()
        offsets.pop()
    folded = to_simplified("".join(chars))
    return NormalizedText(folded, text, tuple(offsets))


def normalize_question(text: str) -> str:
    """The matching form of a question or a name (see the module docstring)."""
    return to_simplified(collapse_whitespace(text.translate(_FOLD)))


#: The longest question accepted, in characters (the API's limit too).


def validate_question(text: object, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """Check a user question before any work is done on it.

    Args:
        text: the question as received.
        max_chars: the longest question accepted, in characters.

    Returns:
        The question with surrounding whitespace removed.

    Raises:
        QuestionError: not a string, empty or whitespace/emoji only, or longer than ``max_chars``.
        ValueError: ``max_chars`` is not positive.
    """
    if max_chars <= 0:
        raise ConfigError(f"max_chars must be greater than 0. Currently, max_chars is {max_chars}")
    if not isinstance(text, str):
        raise QuestionError(f"question must be text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise QuestionError(
            f"question is {len(text):,} characters; the limit is {max_chars:,}: shorten it or ask one thing at a time"
        )
    if not normalize_question(text):
        raise QuestionError("question is empty: it has no text besides whitespace, emoji or control characters")
    return text.strip()
