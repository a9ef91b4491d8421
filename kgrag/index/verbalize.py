"""Texts to embed: one document per entity, one natural sentence per fact (Chinese or English).

Fact sentences come from per-relation templates in ``templates.tsv`` (a data file, so wording can
be reviewed without touching code); a relation without one falls back to its vocabulary labels.

Example:
    >>> fact_sentence(kg, j, "zh")        # a has_symptom fact of cmekg:糖尿病
    '糖尿病的常见症状包括多尿'
    >>> fact_sentence(kg, j, "en")
    '糖尿病 has symptom 多尿'
"""

from __future__ import annotations

import re
from functools import lru_cache

from kgrag.errors import ConfigError
from kgrag.kg.graph import KnowledgeGraph, normalize_name
from kgrag.lang import check_lang
from kgrag.tsv import data_text, tsv_rows

#: Longest description kept in an entity document, in characters.
MAX_DESCRIPTION = 300
#: Longest literal value (dosage, precautions …) kept in a fact sentence, in characters.
MAX_VALUE = 200
#: Aliases kept in an entity document (CMeKG and HPO entities have up to 83).
MAX_ALIASES = 8

#: CMeKG predicates missing from the predicate table land on this relation (kgrag.kg.loaders.cmekg).
CMEKG_FALLBACK = "cmekg_attribute"
_ONTOLOGY_ID = re.compile(r"\s*\([A-Z]+:\d+\)")


@lru_cache(maxsize=1)
def templates() -> dict[str, tuple[str, str]]:
    """Relation id → (Chinese template, English template), from ``templates.tsv``."""
    table: dict[str, tuple[str, str]] = {}
    for n, row in tsv_rows(data_text("kgrag.index", "templates.tsv")):
        if len(row) != 3 or not all("{head}" in t and "{tail}" in t for t in row[1:]):
            raise ConfigError(
                f"kgrag/index/templates.tsv:{n}: bad row {row!r}; want relation, zh and en with {{head}} and {{tail}}"
            )
        table[row[0]] = (row[1], row[2])
    return table


def truncate(text: str, limit: int) -> str:
    """``text`` with whitespace collapsed, cut to ``limit`` characters (an ellipsis marks a cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def entity_lang(kg: KnowledgeGraph, i: int) -> str:
    """Language of entity ``i``'s name: ``zh`` (CMeKG) or ``en`` (the other sources)."""
    return kg.entity_lang(i)


def fact_lang(kg: KnowledgeGraph, j: int) -> str:
    """Language a fact is written in: that of its head entity's name."""
    return entity_lang(kg, kg.fact_head(j))


def entity_document(kg: KnowledgeGraph, i: int) -> str:
    """The text embedded for entity ``i``: name; aliases; description (cut to ~300 characters).

    Aliases that only repeat the name (case, width, spacing) are dropped; at most
    :data:`MAX_ALIASES` are kept.
    """
    name = kg.entity_name(i)
    seen = {normalize_name(name)}
    names = [name]
    for alias in kg.aliases(i):
        key = normalize_name(alias)
        if key and key not in seen:
            seen.add(key)
            names.append(alias)
            if len(names) > MAX_ALIASES:
                break
    doc = "; ".join(names)
    description = truncate(kg.description(i), MAX_DESCRIPTION)
    if description:
        doc += ("。" if entity_lang(kg, i) == "zh" else ". ") + description
    return doc


def fact_sentence(kg: KnowledgeGraph, j: int, lang: str | None = None) -> str:
    """Fact ``j`` as a sentence in ``lang`` (default: the head entity's language).

    Literal values are cut to :data:`MAX_VALUE` characters. An annotation qualifier such as
    HPO's ``frequency: Occasional (HP:0040283)`` is appended without its ontology id.

    Raises:
        ValueError: ``lang`` is neither ``zh`` nor ``en``.
    """
    lang = lang or fact_lang(kg, j)
    check_lang(lang)
    rel_id = kg.fact_relation(j)
    head = kg.entity_name(kg.fact_head(j))
    tail = truncate(kg.fact_tail_text(j), MAX_VALUE)
    qualifier = kg.fact_qualifier(j) or ""
    pair = templates().get(rel_id)
    if pair is not None:
        sentence = (pair[0] if lang == "zh" else pair[1]).format(head=head, tail=tail)
    else:
        rel = kg.vocab.get(rel_id)
        label_zh, label_en = rel.zh, rel.en
        if rel_id == CMEKG_FALLBACK and qualifier:  # an unmapped CMeKG predicate: the qualifier names it
            label_zh = label_en = qualifier
            qualifier = ""
        sentence = f"{head}的{label_zh}：{tail}" if lang == "zh" else f"{head} — {label_en}: {tail}"
    # CMeKG keeps its original predicate as qualifier (the relation already says it); annotation
    # qualifiers read "key: value" and add information (HPO frequency, onset).
    if ": " in qualifier:
        qualifier = _ONTOLOGY_ID.sub("", qualifier)
        sentence += f"（{qualifier}）" if lang == "zh" else f" ({qualifier})"
    return sentence
