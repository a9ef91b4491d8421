"""Entity names in the question's language: what an English prompt calls 高血压, what a Chinese
one calls "Hyperglycemia" (issue 13, facts in the question's language).

A name comes from the KG, never from a translation: for a Chinese-named entity asked about in
English, the name of a cross-source twin from an English source (HPO, MONDO, ICD-10-CM, joined by
``same_*`` links), else its first ``英文名称`` value that reads as an English name (pinyin,
all-capitals abbreviations and codes left out; of several, the one whose words the English
sources use most, since CMeKG's English names carry OCR slips: "Mefformin", "Metforrrun"); for an
English-named entity asked about in Chinese, a twin's Chinese name. None when the KG has no such
name: the original stays alone.
"""

from __future__ import annotations

import re

from kgrag.kg.graph import KnowledgeGraph
from kgrag.lang import has_cjk, is_pinyin

_EN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 ,'\-]{2,59}")
_WORDS = re.compile(r"[a-z]+")
_SPLIT = re.compile(r"[;；,，（）()/]")
MAX_TWINS = 8
"""Links looked at per entity (a few CMeKG entities have hundreds of same-name links)."""
LINK_PREFERENCE = ("same_english_name", "same_drug_substance", "same_umls_cui", "same_icd10_code")
"""Whose name a twin lends first: one of the same name, of the same concept, of the same code
(an ICD-10-CM code's title is narrower: "... without complications")."""
FOREIGN_SOURCES = frozenset({"ddi"})
"""Sources whose Latin-script names are not English (the ANSM thesaurus' French INNs): named in
English, as in Chinese, by a twin when one is linked."""
_DASHES = str.maketrans({"—": "-", "–": "-", "‐": "-"})


class NameLocalizer:
    """``name(row, lang)``: entity ``row``'s name in ``lang`` when its own name is in the other
    language; cached per entity and language (the service asks for the same few thousand)."""

    def __init__(self, kg: KnowledgeGraph) -> None:
        self.kg = kg
        self._english = kg.relation_code("english_name")
        self._cache: dict[tuple[int, str], str | None] = {}
        self._words: frozenset[str] | None = None

    def name(self, row: int, lang: str) -> str | None:
        own = self.kg.entity_name(row)
        if has_cjk(own) == (lang == "zh") and self.kg.entity_source(row) not in FOREIGN_SOURCES:
            return None
        key = (row, lang)
        if key not in self._cache:
            self._cache[key] = self._twin_name(row, lang) or (self._english_name(row) if lang == "en" else None)
        return self._cache[key]

    def _twin_name(self, row: int, lang: str) -> str | None:
        kg = self.kg
        links = kg.links_of(row)[: 4 * MAX_TWINS]
        rank = {rel: n for n, rel in enumerate(LINK_PREFERENCE)}
        links.sort(key=lambda link: rank.get(kg.fact_relation(link[0]), len(rank)))
        for _, other in links[:MAX_TWINS]:
            name = kg.entity_name(other)
            if has_cjk(name) == (lang == "zh") and not name.startswith(("hpo:", "mondo:", "icd10cm:")):
                return name
        return None

    def _english_name(self, row: int) -> str | None:
        kg = self.kg
        if self._english is None:
            return None
        names: list[str] = []
        for j in kg.out_facts(row).tolist():
            if kg.fact_relation_code(j) != self._english:
                continue
            for part in _SPLIT.split((kg.fact_value(j) or "").translate(_DASHES)):
                part = " ".join(part.split())
                if _EN_NAME.fullmatch(part) and not part.isupper() and not is_pinyin(part):
                    names.append(part)
        if len(names) <= 1:
            return names[0] if names else None
        return max(names, key=self._known_share)  # max keeps the first of equals

    def warm(self) -> None:
        """Build the English word set now (~1 s on the default store) rather than on a first question."""
        if self._words is None:
            kg = self.kg
            english = (kg.entity_name(i) for i in range(kg.n_entities) if not has_cjk(kg.entity_name(i)))
            self._words = frozenset(w for n in english for w in _WORDS.findall(n.lower()))

    def _known_share(self, name: str) -> float:
        """The share of ``name``'s words that English-source entity names use."""
        self.warm()
        assert self._words is not None
        words = _WORDS.findall(name.lower())
        return sum(w in self._words for w in words) / len(words) if words else 0.0
