"""The linker's name dictionary: which KG names are matched, and which entities each one means.

Every entity name and alias of every source is normalized like questions
(:func:`~kgrag.retrieval.normalize.normalize_question`) into one key; a key's candidate entities
are ordered best first (preferred name before alias, then type × source prior from
``data/priors.tsv``, then number of facts). Keys that are not mentions of a concept are stopped,
by hand (``data/stop_names.tsv``) and by rules measured on the default store (:class:`StopRules`).
The keys go into one pyahocorasick automaton, rebuilt at start (~5 s for the default store):
pyahocorasick can pickle it, but kgrag loads no pickles.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from kgrag.kg.graph import KnowledgeGraph
from kgrag.retrieval.fuzzy import jieba_tokenizer, require
from kgrag.retrieval.normalize import normalize_question
from kgrag.tsv import data_text, tsv_rows

MIN_PRIOR = 0.15  # entities below (HPO's root "All", HPO frequency terms) are never candidates
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True, slots=True)
class StopRules:
    """When a name is not matched as a mention (the defaults were chosen on the default store).

    Attributes:
        extra_stop_names: more names never to match, on top of ``data/stop_names.tsv``.
        max_key_chars: longer names are not matched (questions do not quote them).
        common_word_freq, common_word_max_facts: a Chinese name that jieba's dictionary counts at
            least ``common_word_freq`` times, whose entities have fewer than
            ``common_word_max_facts`` facts, is a common word (工作, 注意, 引起), not a mention.
            Single Chinese characters are never matched.
        generic_token_names, generic_max_facts: an English one-word name used inside at least
            ``generic_token_names`` longer names, whose entities have at most
            ``generic_max_facts`` facts, is a modifier (left, chronic, bilateral).
        acronym_min_facts: a name of up to 5 letters that every source writes in capitals, whose
            entities have fewer facts, matches only in capitals (SCAN, FISH); well-described
            acronyms match in any case (copd, adhd). English names under 3 characters are
            stopped. Every stopped English name of 2+ letters that a source writes in capitals
            still matches where the user writes it so (ALL, MS, CT).
    """

    extra_stop_names: tuple[str, ...] = ()
    max_key_chars: int = 80  # OMIM/ORPHA disease names run to 50-80 characters
    common_word_freq: int = 1000
    common_word_max_facts: int = 100
    generic_token_names: int = 100
    generic_max_facts: int = 2
    acronym_min_facts: int = 20


@dataclass(frozen=True, slots=True)
class NameIndex:
    """The matched names and their candidates.

    Attributes:
        automaton: pyahocorasick automaton; the value of each key is its key id.
        key_len: key id → length of the normalized name.
        ptr, rows, is_alias: the candidates of key ``k`` are ``rows[ptr[k]:ptr[k + 1]]``, best
            first; ``is_alias`` says which matched by alias rather than preferred name.
        row_prior: entity row → type × source prior.
        acronym: key id → the key matches only where the user writes it in capitals.
        en_vocab: words of the matched English names, with counts (for typo correction).
        zh_names: matched Chinese names (for typo matching).
    """

    automaton: Any
    key_len: np.ndarray
    ptr: np.ndarray
    rows: np.ndarray
    is_alias: np.ndarray
    row_prior: np.ndarray
    acronym: np.ndarray
    en_vocab: Counter[str]
    zh_names: list[str]

    def best_prior(self, key: int) -> float:
        """Prior of the best candidate of ``key``."""
        return float(self.row_prior[self.rows[self.ptr[key]]])


def _data_rows(name: str) -> list[list[str]]:
    return [row for _, row in tsv_rows(data_text("kgrag.retrieval", "data", name))]


@lru_cache(maxsize=1)
def stop_names() -> dict[str, frozenset[str]]:
    """The hand-kept stop names of ``data/stop_names.tsv``, normalized: per language (``en``,
    ``zh``), and ``caps``: those that still match where the user writes them in capitals."""
    out: dict[str, set[str]] = {"en": set(), "zh": set(), "caps": set()}
    for lang, name, *flags in _data_rows("stop_names.tsv"):
        out[lang].add(normalize_question(name))
        if "caps" in flags:
            out["caps"].add(normalize_question(name))
    return {kind: frozenset(names) for kind, names in out.items()}


@lru_cache(maxsize=1)
def priors() -> dict[str, dict[str, float]]:
    """``data/priors.tsv`` as ``{"type": {...}, "source": {...}, "default": {"type": p, "source": p}}``."""
    out: dict[str, dict[str, float]] = {"type": {}, "source": {}, "default": {}}
    for kind, name, value, *_ in _data_rows("priors.tsv"):
        out[kind][name] = float(value)
    return out


def row_priors(kg: KnowledgeGraph) -> np.ndarray:
    """Per entity: its best type prior × its source prior."""
    table = priors()
    default = table["default"]
    type_table = np.array([table["type"].get(t, default["type"]) for t in kg.type_names] + [0.0])
    ptr, codes = kg.entity_type_csr()
    val = np.asarray(codes, dtype=np.int64)
    padded = np.insert(val, ptr[:-1], len(type_table) - 1)  # a 0.0 slot per row: no empty groups
    best = np.maximum.reduceat(type_table[padded], ptr[:-1] + np.arange(kg.n_entities))
    best[np.diff(ptr) == 0] = default["type"]
    src_table = np.array([table["source"].get(s, default["source"]) for s in kg.source_names])
    return best * src_table[np.asarray(kg.entity_source_codes(), dtype=np.int64)]


#: Dosage-form words stripped from a product's English name to find its ingredient's English name
#: ("Aspirin Enteric-coated Tablets" → "aspirin").
_DOSAGE_FORM = re.compile(
    r"\b(?:enteric[- ]?coated|film[- ]?coated|sustained[- ]?release|extended[- ]?release|controlled[- ]?release|"
    r"delayed[- ]?release|orally disintegrating|dispersible|chewable|effervescent|soluble|compound|for injection|"
    r"injection|infusion|tablets?|capsules?|granules?|pills?|powder|oral solution|solution|suspension|syrup|"
    r"drops|cream|ointment|gel|patch(?:es)?|spray|suppositor(?:y|ies)|sodium|hydrochloride)\b"
)


def ingredient_aliases(kg: KnowledgeGraph) -> list[tuple[str, int]]:
    """English names for ingredients that have none, from their single-ingredient products.

    CMeKG gives products English names ("Aspirin Tablets") but not their ingredients (阿司匹林),
    so "side effects of aspirin" would find nothing. A product with exactly one ingredient whose
    English name, without dosage-form words, leaves a name of 4+ letters lends that name to the
    ingredient as an alias (computed when the linker is built; the store is unchanged). An
    ingredient that would get more than 2 different names is a salt or excipient that CMeKG lists
    alone (盐酸, 水, 氧), not the drug, and gets none. Only CMeKG's own ingredient facts count: the
    dictionary drug a product gets as ingredient (:mod:`kgrag.kg.drug_links`) is the same drug again.
    """
    code, cmekg = kg.relation_code("ingredient"), kg.source_code("cmekg")
    if code is None or cmekg is None:
        return []
    f_tail = kg.fact_tails()
    rows = np.flatnonzero((kg.fact_relation_codes() == code) & (f_tail >= 0) & (kg.fact_source_codes() == cmekg))
    heads, tails = kg.fact_heads()[rows], f_tail[rows]
    single = np.bincount(heads, minlength=kg.n_entities) == 1
    out: dict[tuple[str, int], None] = {}
    for product, ingredient in zip(heads[single[heads]], tails[single[heads]], strict=True):
        for name in kg.aliases(int(product)):
            if _CJK.search(name):
                continue
            stem = " ".join(_DOSAGE_FORM.sub(" ", name.lower()).split())
            if len(stem) >= 4 and stem.replace(" ", "").isalpha():
                out[(stem, int(ingredient))] = None
    names = Counter(row for _, row in out)
    return [(stem, row) for stem, row in out if names[row] <= 2]


def build_name_index(kg: KnowledgeGraph, rules: StopRules = StopRules()) -> NameIndex:
    """Normalize every name and alias of ``kg`` (plus :func:`ingredient_aliases`), rank each key's
    candidates, stop what ``rules`` say, and build the automaton."""
    ahocorasick = require("ahocorasick")
    derived = ingredient_aliases(kg)
    raw = list(kg.all_entity_names()) + list(kg.all_aliases()) + [name for name, _ in derived]
    upper = np.array([s.isupper() for s in raw])
    key_id: dict[str, int] = {}
    kid = np.fromiter((key_id.setdefault(normalize_question(s), len(key_id)) for s in raw), np.int64, len(raw))
    keys = list(key_id)
    n = kg.n_entities
    owner = np.concatenate([
        np.arange(n), kg.alias_owners(),
        np.array([row for _, row in derived], dtype=np.int64),
    ])
    is_alias = np.arange(len(raw)) >= n
    prior = row_priors(kg)
    facts = kg.out_degrees() + kg.in_degrees()
    # one (key, entity) pair each, by name where it can; low priors out; then grouped by key:
    # names before aliases, then by prior, then by number of facts
    order = np.lexsort((is_alias, owner, kid))
    order = order[np.r_[True, (kid[order][1:] != kid[order][:-1]) | (owner[order][1:] != owner[order][:-1])]]
    order = order[prior[owner[order]] >= MIN_PRIOR]
    order = order[np.lexsort((-facts[owner[order]], -prior[owner[order]], is_alias[order], kid[order]))]
    ptr = np.searchsorted(kid[order], np.arange(len(keys) + 1)).astype(np.int64)
    key_facts = np.zeros(len(keys), dtype=np.int64)
    np.maximum.at(key_facts, kid[order], facts[owner[order]])
    n_upper = np.bincount(kid, weights=upper, minlength=len(keys))
    acronym = n_upper > 0  # some source writes it in capitals
    acronym_only = n_upper == np.bincount(kid, minlength=len(keys))

    r = rules
    stops = stop_names()
    stop_set = stops["en"] | stops["zh"] | {normalize_question(s) for s in r.extra_stop_names}
    freq = jieba_tokenizer().FREQ
    en_tokens = Counter(w for k in keys if not _CJK.search(k) and " " in k for w in set(_WORD.findall(k)))
    automaton = ahocorasick.Automaton()
    en_vocab: Counter[str] = Counter()
    zh_names: list[str] = []
    for k in sorted(range(len(keys)), key=keys.__getitem__):  # sorted keys build the trie faster
        key = keys[k]
        if not key or len(key) > r.max_key_chars or ptr[k] == ptr[k + 1]:
            continue
        if _CJK.search(key):
            common = freq.get(key, 0) >= r.common_word_freq and key_facts[k] < r.common_word_max_facts
            if len(key) < 2 or key in stop_set or common:
                continue
            zh_names.append(key)
        else:
            by_hand = key in stop_set
            stopped = (
                by_hand
                or len(key) < 3
                or (en_tokens[key] >= r.generic_token_names and key_facts[k] <= r.generic_max_facts)
                or (acronym_only[k] and len(key) <= 5 and key_facts[k] < r.acronym_min_facts)
            )
            acronym[k] &= stopped and len(key) >= 2 and (not by_hand or key in stops["caps"])
            if not any(c.isalpha() for c in key) or (stopped and not acronym[k]):
                continue
            en_vocab.update(_WORD.findall(key))
        automaton.add_word(key, k)
    automaton.make_automaton()
    key_len = np.fromiter(map(len, keys), np.int32, len(keys))
    return NameIndex(
        automaton, key_len, ptr, owner[order].astype(np.int32), is_alias[order], prior, acronym, en_vocab, zh_names
    )
