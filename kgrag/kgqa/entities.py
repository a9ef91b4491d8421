"""How the KG-QA dataset names entities and splits them.

Heads are named as the retrieval eval names them (:meth:`QuestionGenerator.surface`: usable,
unambiguous names; CMeKG entities in English by an English name). Tails inside answers are
named in the question's language by their own name, their English name (CMeKG) or a twin's
name (a linked entity of another source); tails with no such name are left out.

Entities are split train/validation/test by the eval's seeded hash
(:func:`~kgrag.kgqa.questions.hash_split`) of the smallest id of their link component, so
an entity, its twins and every entity linked to them share one split.
"""

from __future__ import annotations

import re

import numpy as np

from kgrag.kg.graph import KnowledgeGraph
from kgrag.kgqa.questions import QuestionGenerator, hash_split
from kgrag.kgqa.templates import clean_item
from kgrag.lang import LANGS, has_cjk, is_pinyin

SPLITS = ("train", "validation", "test", "test_phrasing")
"""Dataset splits: by entity, and ``test_phrasing`` (test entities asked in held-out phrasing families)."""
TEST_FRACTION = VALIDATION_FRACTION = 0.05
_EN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 ,'()\-/]{2,79}")
_LOWER_TYPES = ("症状", "疾病", "部位", "病因")
_WORD = re.compile(r"[a-z]+")
_GLUED_MIN = 8


class _Questions(QuestionGenerator):
    """The eval's naming logic; entities without links skip the twin walk (most of them)."""

    def __init__(self, kg: KnowledgeGraph, linked: np.ndarray) -> None:
        super().__init__(kg)
        self.linked = linked

    def twins(self, row: int) -> tuple[int, ...]:
        return super().twins(row) if self.linked[row] else ()


def link_keys(kg: KnowledgeGraph) -> dict[int, str]:
    """Entity row → the smallest id of its link component (every link kind), for linked rows only:
    the key :meth:`QuestionGenerator.split_of` hashes (the default store's components are far
    below its 64-entity walk cap, so both agree)."""
    link = np.flatnonzero(kg.link_mask()[np.asarray(kg.fact_relation_codes())])
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for h, t in zip(kg.fact_heads()[link].tolist(), kg.fact_tails()[link].tolist(), strict=True):
        rh, rt = root(h), root(t)
        if rh != rt:
            parent[max(rh, rt)] = min(rh, rt)
    best: dict[int, str] = {}
    for x in parent:
        r, eid = root(x), kg.entity_id(x)
        if r not in best or eid < best[r]:
            best[r] = eid
    return {x: best[root(x)] for x in parent}


def split_for(key: str, split_seed: int = 0) -> str:
    """``train``, ``validation`` or ``test`` for a link-component key (the eval's seeded hash)."""
    if hash_split(key, split_seed, TEST_FRACTION) == "dev":
        return "test"
    return "validation" if hash_split(key, split_seed, TEST_FRACTION + VALIDATION_FRACTION) == "dev" else "train"


def _splits(word: str, words: set[str], parts: int) -> bool:
    """Whether ``word`` is two to ``parts`` known words of four letters or more run together."""
    return parts > 1 and any(word[:i] in words and (word[i:] in words or _splits(word[i:], words, parts - 1))
                             for i in range(4, len(word) - 3))


class EntityNames:
    """Names, twins and splits of one KG's entities, computed once.

    Args:
        kg: the graph (its memory-mapped arrays are swapped for plain views of the same bytes,
            which are about three times cheaper to index one element at a time).
        split_seed: seed of the split hash; keep it fixed (another one reshuffles the split).
    """

    def __init__(self, kg: KnowledgeGraph, split_seed: int = 0) -> None:
        kg.use_plain_views()
        self.kg, self.split_seed = kg, split_seed
        self.ids = list(kg.all_entity_ids())
        self.names = list(kg.all_entity_names())
        self.sources = [kg.source_names[s] for s in kg.entity_source_codes().tolist()]
        self._keys = link_keys(kg)
        self.linked = np.zeros(kg.n_entities, dtype=bool)
        self.linked[list(self._keys)] = True
        self._q = _Questions(kg, self.linked)
        ptr, val = kg.entity_type_csr()
        self.type = np.full(kg.n_entities, -1, dtype=np.int64)
        has = np.diff(ptr) > 0
        self.type[has] = val[ptr[:-1][has]]
        self._words: set[str] | None = None
        self.labels = self._label_table()

    def surface(self, row: int, lang: str) -> str | None:
        """The name a ``lang`` question calls entity ``row`` by (the eval's rule), or None."""
        return self._q.surface(row, lang)

    def twins(self, row: int) -> tuple[int, ...]:
        """Entities at most two identity links from ``row``, in another vocabulary."""
        return self._q.twins(row)

    def type_name(self, row: int) -> str | None:
        """The entity's first KG type, or None."""
        t = int(self.type[row])
        return self.kg.type_names[t] if t >= 0 else None

    def _english_names(self) -> dict[int, str]:
        """CMeKG row → its first English name fit for a sentence (pinyin and codes left out)."""
        kg, code = self.kg, self.kg.relation_code("english_name")
        out: dict[int, str] = {}
        if code is None:
            return out
        values, f_head, f_value = kg.all_values(), kg.fact_heads(), kg.fact_value_rows()
        for j in np.flatnonzero(np.asarray(kg.fact_relation_codes()) == code).tolist():
            row = int(f_head[j])
            for part in re.split(r"[;；（）()]", values[int(f_value[j])]):
                part = part.strip()
                if (row not in out and _EN_NAME.fullmatch(part) and not is_pinyin(part) and not part.isupper()
                        and not self.glued(part)):
                    out[row] = part
        return out

    def glued(self, name: str) -> bool:
        """Whether an English name has words run together ("drymouth", "alimentarytracthemorrhage",
        as some CMeKG English names do): a long word the English sources never use (in names,
        synonyms or definitions) that splits into two or three words they do use."""
        if self._words is None:
            english = [r for r, src in enumerate(self.sources) if src != "cmekg"]
            kg = self.kg
            texts = [self.names[r] for r in english] + [kg.description(r) for r in english]
            texts += [alias for r in english for alias in kg.aliases(r)]
            self._words = set(_WORD.findall(" ".join(texts).lower()))
        return any(len(w) >= _GLUED_MIN and w not in self._words and _splits(w, self._words, 3)
                   for w in _WORD.findall(name.lower()))

    def _label_table(self) -> dict[str, list[str | None]]:
        """Per language, what a sentence calls each entity: its own name in that language, its
        English name, or a twin's name; None when the KG has none."""
        english = self._english_names()
        out: dict[str, list[str | None]] = {"zh": [], "en": []}
        lower_types = {self.kg.type_names.index(t) for t in _LOWER_TYPES if t in self.kg.type_names}
        for row, name in enumerate(self.names):
            zh = has_cjk(name)
            own: dict[str, str | None] = {"zh": name if zh else None, "en": None if zh else name}
            if zh and row in english:
                en = english[row]
                own["en"] = en[0].lower() + en[1:] if int(self.type[row]) in lower_types and en[1:2].islower() else en
            elif not zh and self.ids[row].startswith("hpo:HP:") and name[1:2].islower():
                own["en"] = name[0].lower() + name[1:]  # phenotype terms are common nouns mid-sentence
            for lang in LANGS:
                if own[lang] is None and self.linked[row]:
                    own[lang] = next((self.names[t] for t in self._q.twins(row)
                                      if has_cjk(self.names[t]) == (lang == "zh")), None)
                text = own[lang]
                out[lang].append(clean_item(text) or None if text else None)
        return out

    def label(self, row: int, lang: str) -> str | None:
        """What a ``lang`` sentence calls entity ``row`` (its name, English name or a twin's name)."""
        return self.labels[lang][row]

    def split_of(self, row: int) -> str:
        """The split of entity ``row`` (and of its whole link component)."""
        return split_for(self._keys.get(row, self.ids[row]), self.split_seed)
