"""Entity documents and fact sentences, in Chinese and English, from real-format KG data."""

from __future__ import annotations

import numpy as np
import pytest

from kgrag.errors import ConfigError
from kgrag.index.verbalize import (
    MAX_DESCRIPTION,
    MAX_VALUE,
    entity_document,
    fact_lang,
    fact_sentence,
    templates,
    truncate,
)
from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.model import SourceInfo


def facts_of(kg: KnowledgeGraph, head: str, relation: str) -> list[int]:
    i = kg.index_of(head)
    return [int(j) for j in kg.out_facts(i) if kg.tables.relations[int(kg.arrays["f_rel"][j])] == relation]


def test_templates_cover_the_common_relations_in_both_languages() -> None:
    table = templates()
    assert len(table) >= 40
    for rel in ("has_symptom", "department", "side_effect", "has_phenotype", "ingredient", "is_a", "indication"):
        zh, en = table[rel]
        assert "{head}" in zh and "{tail}" in zh and "{head}" in en and "{tail}" in en


def test_has_symptom_reads_naturally(tiny_kg: KnowledgeGraph) -> None:
    j = facts_of(tiny_kg, "cmekg:糖尿病", "has_symptom")[0]
    assert fact_sentence(tiny_kg, j, "zh") == "糖尿病的常见症状包括多尿"
    assert fact_sentence(tiny_kg, j, "en") == "糖尿病 has symptom 多尿"


def test_department_reads_naturally(tiny_kg: KnowledgeGraph) -> None:
    j = facts_of(tiny_kg, "cmekg:糖尿病", "department")[0]
    assert fact_sentence(tiny_kg, j, "zh") == "糖尿病应就诊于内分泌科"
    assert fact_sentence(tiny_kg, j, "en") == "for 糖尿病, see the 内分泌科 department"


def test_language_defaults_to_the_head_entitys(tiny_kg: KnowledgeGraph) -> None:
    zh = facts_of(tiny_kg, "cmekg:糖尿病", "has_symptom")[0]
    en = facts_of(tiny_kg, "mondo:MONDO:0005015", "is_a")[0]
    assert fact_lang(tiny_kg, zh) == "zh" and fact_lang(tiny_kg, en) == "en"
    assert fact_sentence(tiny_kg, en) == "diabetes mellitus is a kind of disease"


def test_an_unmapped_cmekg_predicate_is_named_by_its_qualifier(tiny_kg: KnowledgeGraph) -> None:
    j = facts_of(tiny_kg, "cmekg:阿司匹林", "cmekg_attribute")[0]
    assert fact_sentence(tiny_kg, j, "zh") == "阿司匹林的新出现的属性：某个值"


def test_unknown_language_is_refused(tiny_kg: KnowledgeGraph) -> None:
    with pytest.raises(ConfigError, match="'fr'"):
        fact_sentence(tiny_kg, 0, "fr")


@pytest.fixture()
def odd_kg() -> KnowledgeGraph:
    """Relations without a template, a long literal, an HPO-style qualifier, many aliases."""
    b = KGBuilder()
    b.add_source(SourceInfo("icd10cm", "test", "1", "public domain", ("t.xml",)))
    f = b.register_file("icd10cm", "t.xml")
    aliases = ["Asthma", "ASTHMA", "bronchial asthma"] + [f"alias {n}" for n in range(20)]
    b.add_entity("icd10cm:J45", "Asthma", "en", "icd10cm", aliases=aliases, description="word " * 200)
    b.add_entity("icd10cm:R06.2", "Wheezing", "en", "icd10cm")
    b.add_fact("icd10cm:J45", "code_first", value="underlying condition", file=f, line=1)
    b.add_fact("icd10cm:J45", "dosage", value="x" * 500, file=f, line=2)
    b.add_fact("icd10cm:J45", "has_phenotype", tail="icd10cm:R06.2", file=f, line=3,
               qualifier="frequency: Frequent (HP:0040282)")
    return b.build()


def test_relations_without_a_template_use_their_labels(odd_kg: KnowledgeGraph) -> None:
    j = facts_of(odd_kg, "icd10cm:J45", "code_first")[0]
    assert fact_sentence(odd_kg, j, "en") == "Asthma — code first: underlying condition"
    assert fact_sentence(odd_kg, j, "zh") == "Asthma的首先编码：underlying condition"


def test_long_literals_are_cut(odd_kg: KnowledgeGraph) -> None:
    j = facts_of(odd_kg, "icd10cm:J45", "dosage")[0]
    sentence = fact_sentence(odd_kg, j, "en")
    assert sentence.endswith("…") and sentence.count("x") == MAX_VALUE - 1


def test_annotation_qualifiers_are_kept_without_ontology_ids(odd_kg: KnowledgeGraph) -> None:
    j = facts_of(odd_kg, "icd10cm:J45", "has_phenotype")[0]
    assert fact_sentence(odd_kg, j, "en") == "Asthma presents with Wheezing (frequency: Frequent)"
    assert fact_sentence(odd_kg, j, "zh") == "Asthma的临床表型包括Wheezing（frequency: Frequent）"


def test_entity_document_has_name_aliases_and_a_short_description(odd_kg: KnowledgeGraph) -> None:
    doc = entity_document(odd_kg, odd_kg.index_of("icd10cm:J45"))
    names, description = doc.split(". ", 1)
    assert names.split("; ")[:3] == ["Asthma", "bronchial asthma", "alias 0"]  # case repeats of the name dropped
    assert len(names.split("; ")) == 9
    assert description.endswith("…") and len(description) == MAX_DESCRIPTION


def test_chinese_entity_document(tiny_kg: KnowledgeGraph) -> None:
    doc = entity_document(tiny_kg, tiny_kg.index_of("cmekg:糖尿病"))
    assert doc.startswith("糖尿病; diabetes mellitus; DM")
    assert entity_document(tiny_kg, tiny_kg.index_of("cmekg:多尿")) == "多尿"


def test_every_fact_of_the_tiny_kg_verbalizes_in_both_languages(tiny_kg: KnowledgeGraph) -> None:
    for j in range(tiny_kg.n_facts):
        head = tiny_kg.entity_name(int(tiny_kg.arrays["f_head"][j]))
        for lang in ("zh", "en"):
            assert head in fact_sentence(tiny_kg, j, lang)
    assert all(entity_document(tiny_kg, i) for i in np.arange(tiny_kg.n_entities))


def test_truncate_collapses_whitespace() -> None:
    assert truncate(" a \n b  c ", 10) == "a b c"
    assert truncate("abcdef", 4) == "abc…"
