"""Text folding primitives shared by kgrag's normalizers.

Each normalizer keeps its own output (they differ on purpose) and is built from these pieces:

* :func:`kgrag.kg.graph.normalize_name` (exact name keys): :func:`nfkc_casefold`, then
  :func:`collapse_whitespace`;
* :func:`kgrag.eval.gold.match_key` (open-answer scoring): :func:`nfkc_casefold`, then
  whitespace, punctuation and symbols dropped;
* :func:`kgrag.retrieval.normalize.normalize_question` (questions and dictionary names, with
  character offsets): its own per-character fold (NFKD-based, so each output character maps to
  one input character), :func:`collapse_whitespace` and traditional → simplified Chinese;
* :func:`kgrag.generation.safety.normalize_for_safety`: ``normalize_question`` plus English
  contractions spelled one way.
"""

from __future__ import annotations

import unicodedata


def nfkc_casefold(text: str) -> str:
    """``text`` compatibility-normalized (NFKC: full-width → half-width, ligatures split) and case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def collapse_whitespace(text: str) -> str:
    """``text`` with every run of whitespace made one space and none at either end."""
    return " ".join(text.split())
