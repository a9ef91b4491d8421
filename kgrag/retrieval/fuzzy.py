"""Typo-tolerant matching for :mod:`kgrag.retrieval.linking`, with rapidfuzz.

English: a word outside the names' vocabulary (and not a known question word) is corrected to a
vocabulary word one edit away (two for words of 10+ letters); the linker then runs its exact
automaton over the corrected text, so multi-word names with a typo are found as well
("diabetis mellitus"). Correcting words, rather than comparing every n-gram with ~180k English
names, keeps a typo question at about a millisecond.

Chinese: runs of characters that jieba cannot read as known words (a slip of the input method
breaks a name into single characters: 糖屎病 → 糖/屎/病) are compared with Chinese names of the
same length, allowing one substituted character (two for names of 6+).
"""

from __future__ import annotations

import importlib
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

Covered = Callable[[int, int], bool]
"""``covered(start, end)``: whether the span already belongs to a mention."""

_WORD = re.compile(r"[a-z]+")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]{3,}")
# Characters that end a run of unknown Chinese characters: particles, pronouns, question words
# and the verbs of questions (挂, 看, 吃 ...) are never part of a misspelt name.
_ZH_FUNCTION = frozenset(
    "的了吗呢吧啊呀嘛么和与及或在是有会能要想请问该挂看吃喝用去找做查得着过把被给对从到为什怎样哪个几多少这那"
    "你我他她它们些还就都也又很最更太"
)


def require(module: str) -> Any:
    """Import one of the ``retrieval`` extra's packages, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"entity linking needs {module!r}: pip install -e '.[retrieval]'") from exc


@lru_cache(maxsize=1)
def jieba_tokenizer() -> Any:
    """jieba's default tokenizer, initialized quietly (its dictionary loads in about a second)."""
    jieba = require("jieba")
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba.dt


@dataclass(frozen=True, slots=True)
class Correction:
    """A text with some words corrected.

    Attributes:
        text: the corrected text.
        source: ``source[i]`` is the position in the uncorrected text of ``text[i]``.
        words: ``(start, end, similarity)`` of each corrected word in ``text``.
    """

    text: str
    source: tuple[int, ...]
    words: tuple[tuple[int, int, float], ...]

    def similarity(self, start: int, end: int) -> float | None:
        """The lowest similarity of the corrected words inside ``text[start:end]``; ``None`` if
        the span has none (it was there before the correction)."""
        inside = [sim for a, b, sim in self.words if start <= a and b <= end]
        return min(inside) if inside else None

    def to_source(self, start: int, end: int) -> tuple[int, int]:
        return self.source[start], self.source[end - 1] + 1


class EnglishSpeller:
    """Corrects English words outside a vocabulary to the nearest vocabulary word.

    Args:
        vocab: vocabulary words with counts (ties go to the more frequent word).
        known: words that are never typos though not in ``vocab`` (question words).
        min_len: shorter words are left alone (too many neighbours one edit away).
    """

    def __init__(self, vocab: Counter[str], known: Iterable[str] = (), min_len: int = 5) -> None:
        self.vocab, self.min_len = vocab, min_len
        self.known = set(vocab) | set(known)
        self.buckets: dict[int, list[str]] = {}
        for w in vocab:
            self.buckets.setdefault(len(w), []).append(w)

    def correct(self, text: str, covered: Covered) -> Correction | None:
        """``text`` with its unknown words corrected, or ``None`` if none could be."""
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        pieces: list[str] = []
        source: list[int] = []
        words: list[tuple[int, int, float]] = []
        last = 0
        for w in _WORD.finditer(text):
            word = w.group()
            if len(word) < self.min_len or word in self.known or covered(w.start(), w.end()):
                continue
            cutoff = 1 if len(word) < 10 else 2
            choices = [c for d in range(-cutoff, cutoff + 1) for c in self.buckets.get(len(word) + d, ())]
            hits = process.extract(word, choices, scorer=Levenshtein.distance, score_cutoff=cutoff, limit=10)
            if not hits:
                continue
            best, dist, _ = min(hits, key=lambda h: (h[1], -self.vocab[h[0]]))
            pieces += [text[last : w.start()], best]
            source += range(last, w.start())
            words.append((len(source), len(source) + len(best), 1 - dist / max(len(word), len(best))))
            source += (min(w.start() + i, w.end() - 1) for i in range(len(best)))
            last = w.end()
        if not words:
            return None
        source += range(last, len(text))
        return Correction("".join(pieces) + text[last:], tuple(source), tuple(words))


class ChineseSpeller:
    """Finds Chinese names written with one (two) wrong characters.

    Args:
        names: normalized Chinese names that may be matched.
        min_len, max_len: names and windows of these lengths only (shorter ones are ambiguous).
    """

    def __init__(self, names: Iterable[str], min_len: int = 3, max_len: int = 8) -> None:
        self.min_len, self.max_len = min_len, max_len
        self.buckets: dict[int, list[str]] = {}
        for name in names:
            if min_len <= len(name) <= max_len:
                self.buckets.setdefault(len(name), []).append(name)

    def matches(self, text: str, covered: Covered) -> list[tuple[int, int, int, list[str]]]:
        """``(start, end, distance, names)`` for each window of an unknown run of ``text`` that
        is ``distance`` substitutions away from ``names`` (the closest ones, all of them)."""
        from rapidfuzz import process
        from rapidfuzz.distance import Hamming

        out = []
        for a, b in self.unknown_runs(text, covered):
            for size in range(min(b - a, self.max_len), self.min_len - 1, -1):
                for s in range(a, b - size + 1):
                    window, cutoff = text[s : s + size], 1 if size <= 5 else 2
                    hits = process.extract(
                        window, self.buckets.get(size, []), scorer=Hamming.distance, score_cutoff=cutoff, limit=20
                    )
                    dists = [int(d) for _, d, _ in hits if d > 0]
                    if dists:
                        best = min(dists)
                        out.append((s, s + size, best, [str(c) for c, d, _ in hits if d == best]))
        return out

    def unknown_runs(self, text: str, covered: Covered) -> list[tuple[int, int]]:
        """Spans of at least ``min_len`` Chinese characters, covered by no mention, that jieba
        reads as single characters (other than function characters) or unknown words."""
        tok = jieba_tokenizer()
        runs: list[tuple[int, int]] = []
        for chunk in _CJK_RUN.finditer(text):
            start = None
            for word, a, b in tok.tokenize(chunk.group()):
                a, b = a + chunk.start(), b + chunk.start()
                single = len(word) == 1 and word not in _ZH_FUNCTION
                if (single or (len(word) > 1 and not tok.FREQ.get(word))) and not covered(a, b):
                    start = a if start is None else start
                    continue
                if start is not None and a - start >= self.min_len:
                    runs.append((start, a))
                start = None
            if start is not None and chunk.end() - start >= self.min_len:
                runs.append((start, chunk.end()))
        return runs
