"""Ranking candidate facts: three channels fused by reciprocal-rank fusion (RRF).

* **structure** — the intent's relation prior × the path weight (link confidence, hop and
  cross-source discounts): what the question asks about, of the entity it names;
* **dense** — cosine of the question vector and the fact's sentence vector from the index;
* **lexical** — BM25 of the question against the fact's text (relation labels in both languages,
  tail, head), with character bigrams for Chinese and words for English.

BM25 is written here rather than taken from a package because it scores only the few hundred
candidates of one question, with document frequencies from those candidates: ~40 lines of numpy,
where rank-bm25/bm25s index a whole corpus up front.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from kgrag.kg.graph import KnowledgeGraph
from kgrag.retrieval.expansion import Candidate

_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_WORD = re.compile(r"[a-z0-9]+")
_EN_STOP = frozenset(
    "a an and are as at be by can do does for from has have how i in is it my of on or the to what "
    "when which who why will with you your".split()
)


def tokens(text: str) -> list[str]:
    """Lexical tokens: Chinese character bigrams (and single characters of 1-char runs), English words."""
    text = text.lower()
    out: list[str] = []
    for run in _CJK_RUN.findall(text):
        out.extend(run[i : i + 2] for i in range(len(run) - 1)) if len(run) > 1 else out.append(run)
    out.extend(w for w in _WORD.findall(text) if w not in _EN_STOP)
    return out


def bm25(query: list[str], docs: list[list[str]], k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """BM25 scores of ``docs`` for ``query``, with document frequencies from ``docs`` themselves."""
    n = len(docs)
    if n == 0 or not query:
        return np.zeros(n)
    lengths = np.array([len(d) for d in docs], dtype=np.float64)
    avg = lengths.mean() or 1.0
    qset = set(query)
    tf = [Counter(t for t in d if t in qset) for d in docs]
    scores = np.zeros(n)
    for term in qset:
        counts = np.array([c.get(term, 0) for c in tf], dtype=np.float64)
        df = int((counts > 0).sum())
        if df == 0:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        scores += idf * counts * (k1 + 1) / (counts + k1 * (1 - b + b * lengths / avg))
    return scores


def rrf_ranks(scores: np.ndarray) -> np.ndarray:
    """0-based rank of each item by descending score (stable: earlier items win ties)."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.int64)
    ranks[order] = np.arange(len(scores))
    return ranks


@dataclass(frozen=True)
class RankingConfig:
    """Channel weights and the RRF constant (defaults chosen by ``kgrag eval retrieval``).

    ``dense`` 0.2 was chosen on the dev split with the default index (BENCHMARKS.md): against 0
    it lifts recall@10 of colloquial English questions from 0.904 to 0.934 and MRR in three of four
    language/style groups; 0.35 and 0.6 cost more recall@1 on English template questions.
    """

    structure: float = 1.0
    dense: float = 0.2
    lexical: float = 0.4
    rrf_k: int = 20

    @classmethod
    def parse(cls, spec: str) -> RankingConfig:
        """From ``"structure=1,dense=0.6,lexical=0"`` (unnamed weights keep their defaults).

        Raises:
            ConfigError: an unknown channel, a value that is not a number, or a negative weight.
        """
        from kgrag.errors import ConfigError

        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, raw = part.partition("=")
            name = name.strip()
            if name not in ("structure", "dense", "lexical", "rrf_k"):
                raise ConfigError(f"unknown ranking weight {name!r} in {spec!r}; use structure, dense, lexical, rrf_k")
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"ranking weight {name} must be a number; got {raw.strip()!r} in {spec!r}") from None
            if value < 0 or (name == "rrf_k" and value != int(value)):
                raise ConfigError(f"ranking weight {name} must be a non-negative number (rrf_k whole); got {raw!r}")
            values[name] = int(value) if name == "rrf_k" else value
        return cls(**values)  # type: ignore[arg-type]


class FactRanker:
    """Scores candidates of one question; returns candidate indexes best first with fused scores."""

    def __init__(self, kg: KnowledgeGraph, config: RankingConfig | None = None) -> None:
        self.kg = kg
        self.config = config or RankingConfig()

    def fact_text(self, j: int) -> str:
        """Text for the lexical channel: head, both relation labels, tail/value (cut)."""
        kg = self.kg
        rel = kg.vocab.get(kg.fact_relation(j))
        head = kg.entity_name(kg.fact_head(j))
        return f"{head} {rel.zh} {rel.en} {kg.fact_tail_text(j)[:200]}"

    def rank(
        self,
        question: str,
        candidates: list[Candidate],
        priors: np.ndarray,
        dense_scores: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fused order of ``candidates``.

        Args:
            question: the normalized question.
            candidates: from :class:`~kgrag.retrieval.expansion.GraphExpander`.
            priors: relation prior of each candidate (0..1).
            dense_scores: cosine of each candidate's fact vector with the question, if an index is loaded.

        Returns:
            ``(order, fused)``: candidate indexes best first, and each candidate's fused score.
        """
        n = len(candidates)
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        cfg = self.config
        weights = np.array([c.weight for c in candidates])
        structure = priors * weights
        fused = cfg.structure / (cfg.rrf_k + 1 + rrf_ranks(structure))
        lexical = bm25(tokens(question), [tokens(self.fact_text(c.fact)) for c in candidates]) if cfg.lexical else None
        if lexical is not None and lexical.any():
            fused += cfg.lexical / (cfg.rrf_k + 1 + rrf_ranks(lexical))
        if dense_scores is not None and cfg.dense:
            fused += cfg.dense / (cfg.rrf_k + 1 + rrf_ranks(dense_scores))
        # RRF alone cannot tell "asked-for relation" from the rest when a channel is flat; the
        # structure score breaks ties so an intent's facts stay ahead of equally fused others.
        order = np.lexsort((-structure, -fused))
        return order, fused
