"""Entity linking: find the KG entities a question mentions, in Chinese and English.

One Aho-Corasick automaton (pyahocorasick, :mod:`kgrag.retrieval.names`) holds every entity name
and alias of every source, normalized like questions. Chinese names match as character
sequences; names that start or end with an ASCII letter or digit match on word boundaries only
("ms" never inside "symptoms"; a plural "s" is allowed). Overlapping mentions go to the longer
one, then the one whose best entity has the higher type × source prior. One mention keeps several
candidate entities (e.g. "hypertension": hpo:HP:0000822 by name, cmekg:高血压 and MONDO by alias).

Words the exact pass leaves unexplained get a typo-tolerant pass (:mod:`kgrag.retrieval.fuzzy`:
"hypertention" → hypertension, 糖屎病 → 糖尿病). A dense retriever, if the caller gives one, is
asked only when nothing else matched.

Example:
    >>> linker = EntityLinker.from_kg(load_store("kg/store/default"))
    >>> [(x.entity_id, x.surface, x.method) for x in linker.link("糖尿病挂什么科")]
    [('cmekg:糖尿病', '糖尿病', 'exact')]
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from kgrag.errors import ConfigError
from kgrag.kg.graph import KnowledgeGraph
from kgrag.retrieval.fuzzy import ChineseSpeller, EnglishSpeller
from kgrag.retrieval.names import NameIndex, StopRules, build_name_index, stop_names
from kgrag.retrieval.normalize import NormalizedText, normalize_with_offsets

logger = logging.getLogger(__name__)

DenseFallback = Callable[[str, int], list[tuple[int, float]]]
"""``dense(text, k) -> [(entity row, similarity 0..1), ...]``, best first."""

ALIAS_CONFIDENCE = 0.95  # an exact match on an alias, vs 1.0 on the preferred name
FUZZY_CONFIDENCE = 0.9  # times the similarity of the corrected text: always below exact
DENSE_CONFIDENCE = 0.8  # times the retriever's similarity
_ASCII_WORD = re.compile(r"[A-Za-z]{2,}")
#: How a question names the people who have a disease ("高血压病人", "糖尿病患者"): a mention that is the
#: disease's name plus one of these gives way to the disease, which is what the question is about
#: (CMeKG has "高血压病人" as a population entity, with none of 高血压's drugs or departments).
PATIENT_SUFFIXES = ("病人", "患者", "病患", "的人", "病友")


@dataclass(frozen=True, slots=True)
class EntityLink:
    """One candidate entity for one mention in the question.

    Attributes:
        row: the entity's row in the :class:`KnowledgeGraph`.
        entity_id: its id, e.g. ``cmekg:糖尿病``.
        surface: the mention as the user wrote it (``question[start:end]``).
        start, end: character offsets in the original question.
        method: ``exact``, ``fuzzy`` or ``dense``.
        confidence: 0..1; exact 1.0 (name) or 0.95 (alias), fuzzy and dense always lower.
    """

    row: int
    entity_id: str
    surface: str
    start: int
    end: int
    method: str
    confidence: float


@dataclass(frozen=True, slots=True)
class _Mention:
    start: int  # in the normalized text
    end: int
    key: int
    method: str
    scale: float


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class EntityLinker:
    """Dictionary + fuzzy (+ optional dense) entity linker over one KG.

    Args:
        kg: the graph the index was built from.
        index: its name index (:func:`~kgrag.retrieval.names.build_name_index`).
        max_candidates: most entities reported per mention.
        dense: optional fallback retriever, asked only when nothing else matched.
        dense_k: how many entities to ask it for.
    """

    def __init__(
        self,
        kg: KnowledgeGraph,
        index: NameIndex,
        *,
        max_candidates: int = 5,
        dense: DenseFallback | None = None,
        dense_k: int = 5,
    ) -> None:
        if max_candidates < 1:
            raise ConfigError(f"max_candidates must be at least 1. Currently, max_candidates is {max_candidates}")
        if dense_k < 1:
            raise ConfigError(f"dense_k must be at least 1. Currently, dense_k is {dense_k}")
        self.kg, self.index = kg, index
        self.max_candidates, self.dense, self.dense_k = max_candidates, dense, dense_k
        self._en = EnglishSpeller(index.en_vocab, known=stop_names()["en"])
        self._zh = ChineseSpeller(index.zh_names)

    @classmethod
    def from_kg(
        cls,
        kg: KnowledgeGraph,
        rules: StopRules = StopRules(),
        *,
        max_candidates: int = 5,
        dense: DenseFallback | None = None,
        dense_k: int = 5,
    ) -> EntityLinker:
        """Build the linker over every name and alias of ``kg`` (~6 s for the default store).

        Args:
            kg: the graph.
            rules: which names are not matched (:class:`~kgrag.retrieval.names.StopRules`).
            max_candidates, dense, dense_k: as for the constructor.
        """
        t0 = time.perf_counter()
        index = build_name_index(kg, rules)
        linker = cls(kg, index, max_candidates=max_candidates, dense=dense, dense_k=dense_k)
        linker.link("糖屎病人该挂什么科 hypertention")  # warm up: loads jieba's HMM and rapidfuzz
        logger.info("entity linker: %d names matched, built in %.1f s", len(index.automaton), time.perf_counter() - t0)
        return linker

    def link(self, question: str) -> list[EntityLink]:
        """Entities mentioned in ``question``, in order of position, best candidate first.

        Tries exact dictionary matches, then typo-tolerant matches for the words left over,
        then (only if both found nothing) the dense fallback.
        """
        nt = normalize_with_offsets(question)
        words = _ASCII_WORD.findall(question)  # a question in capitals has no acronyms in it
        shouty = len(words) >= 3 and sum(w.isupper() for w in words) >= 0.8 * len(words)
        mentions = self._resolve(_patients_as_disease(nt.text, self._exact(nt.text, nt, shouty)), [])
        mentions = self._resolve(self._fuzzy(nt, mentions, shouty), mentions)
        links = [x for m in sorted(mentions, key=lambda m: m.start) for x in self._expand(nt, m)]
        if links or self.dense is None or not nt.text:
            return links
        return [
            EntityLink(int(row), self.kg.entity_id(int(row)), question, 0, len(question), "dense", conf)
            for row, score in self.dense(nt.text, self.dense_k)
            for conf in [round(DENSE_CONFIDENCE * min(1.0, max(0.0, float(score))), 4)]
        ]

    def _exact(
        self, text: str, nt: NormalizedText, shouty: bool, source: tuple[int, ...] | None = None
    ) -> list[_Mention]:
        """Dictionary matches in ``text`` (``nt.text``, or a correction of it whose positions
        ``source`` maps back), on word boundaries, acronyms only where written in capitals."""
        out = []
        for last, k in self.index.automaton.iter(text):
            start, end = last - int(self.index.key_len[k]) + 1, last + 1
            if _is_word_char(text[start]) and start > 0 and _is_word_char(text[start - 1]):
                continue
            if _is_word_char(text[last]) and end < len(text) and _is_word_char(text[end]):
                if text[end] != "s" or end - start < 4 or (end + 1 < len(text) and _is_word_char(text[end + 1])):
                    continue
                end += 1  # plural
            if self.index.acronym[k]:
                a, b = (source[start], source[end - 1] + 1) if source else (start, end)
                s, e = nt.span(a, b)
                if shouty or not nt.original[s:e].isupper():
                    continue
            out.append(_Mention(start, end, k, "exact", 1.0))
        return out

    def _fuzzy(self, nt: NormalizedText, kept: list[_Mention], shouty: bool) -> list[_Mention]:
        """Typo-tolerant mentions among the words no exact mention explains."""

        def covered(start: int, end: int) -> bool:
            return any(m.start < end and start < m.end for m in kept)

        out = []
        fix = self._en.correct(nt.text, covered)
        if fix is not None:
            for m in self._exact(fix.text, nt, shouty, fix.source):
                sim = fix.similarity(m.start, m.end)
                if sim is not None:  # the mention contains a corrected word
                    out.append(_Mention(*fix.to_source(m.start, m.end), m.key, "fuzzy", FUZZY_CONFIDENCE * sim))
        for start, end, dist, names in self._zh.matches(nt.text, covered):
            k = max((int(self.index.automaton.get(name)) for name in names), key=self.index.best_prior)
            out.append(_Mention(start, end, k, "fuzzy", FUZZY_CONFIDENCE * (1 - dist / (end - start))))
        return out

    def _resolve(self, found: list[_Mention], kept: list[_Mention]) -> list[_Mention]:
        """Non-overlapping mentions: ``kept`` first, then longer ones, then higher prior."""
        out = list(kept)
        for m in sorted(found, key=lambda m: (m.start - m.end, -self.index.best_prior(m.key), -m.scale, m.start)):
            if all(m.end <= o.start or m.start >= o.end for o in out):
                out.append(m)
        return out

    def _expand(self, nt: NormalizedText, m: _Mention) -> list[EntityLink]:
        s, e = nt.span(m.start, m.end)
        lo = int(self.index.ptr[m.key])
        hi = min(int(self.index.ptr[m.key + 1]), lo + self.max_candidates)
        return [
            EntityLink(int(r), self.kg.entity_id(int(r)), nt.original[s:e], s, e, m.method, conf)
            for r, alias in zip(self.index.rows[lo:hi], self.index.is_alias[lo:hi], strict=True)
            for conf in [round(m.scale * (ALIAS_CONFIDENCE if alias else 1.0), 4)]
        ]


def _patients_as_disease(text: str, found: list[_Mention]) -> list[_Mention]:
    """``found`` without the mentions "X病人"/"X患者"… whose X is itself a mention at the same start,
    nor the ones that end inside that suffix ("高血压病" of "高血压病人"): the patient wording resolves
    to X (:data:`PATIENT_SUFFIXES`)."""
    spans = {(m.start, m.end) for m in found}
    cut = [(m.start, m.end - len(suffix), m.end) for m in found for suffix in PATIENT_SUFFIXES
           if text.endswith(suffix, m.start, m.end) and (m.start, m.end - len(suffix)) in spans]
    return [m for m in found if not any(m.start == start and stem < m.end <= end for start, stem, end in cut)]
