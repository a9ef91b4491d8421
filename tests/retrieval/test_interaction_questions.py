"""Interaction questions on a small store built with the real loaders: a few CMeKG products
(tests/kg/data/cmekg/interactions_mini.jsonl), the real drug dictionary and the real ANSM thesaurus."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgrag.kg.builder import KGBuilder
from kgrag.kg.links import add_links
from kgrag.kg.loaders.cmekg import CMeKGLoader
from kgrag.kg.loaders.ddi import DDILoader
from kgrag.kg.loaders.drugs import DrugsLoader
from kgrag.retrieval.intents import detect_intents
from kgrag.retrieval.linking import EntityLinker
from kgrag.retrieval.retriever import KGRetriever, RetrievedFact

DATA = Path(__file__).parents[1] / "kg" / "data"


@pytest.fixture(scope="module")
def retriever() -> KGRetriever:
    builder = KGBuilder()
    CMeKGLoader(DATA / "cmekg" / "interactions_mini.jsonl").load(builder)
    DrugsLoader().load(builder)
    DDILoader().load(builder)
    add_links(builder)
    kg = builder.build()
    return KGRetriever(kg, EntityLinker.from_kg(kg))


def family(retriever: KGRetriever, ddi_id: str) -> set[str]:
    """A thesaurus substance and its classes."""
    kg = retriever.kg
    row = kg.index_of(ddi_id)
    return {ddi_id} | {f.tail for f in kg.facts_of(row) if f.relation == "member_of_class" and f.tail}


def joins(fact: RetrievedFact, a: set[str], b: set[str]) -> bool:
    return (fact.head in a and fact.tail in b) or (fact.head in b and fact.tail in a)


@pytest.mark.parametrize(
    "question",
    [
        "Can I take warfarin with aspirin?",
        "does warfarin interact with aspirin",
        "华法林和阿司匹林能一起吃吗？",
        "华法林跟阿司匹林一起用有没有问题",
    ],
)
def test_the_class_rule_joining_two_drugs_ranks_first_with_its_severity(retriever: KGRetriever, question: str) -> None:
    """Warfarin is an oral anticoagulant; the thesaurus' rule is aspirin + anticoagulants oraux."""
    assert "interaction" in [i.name for i in detect_intents(question)]
    top = retriever.retrieve(question, top_k=5).facts[0]
    assert top.relation == "interacts_with" and top.source == "ddi"
    assert joins(top, family(retriever, "ddi:warfarine"), family(retriever, "ddi:acide acetylsalicylique"))
    assert top.qualifier and top.qualifier.startswith("severity: contraindicated / 禁止合用")
    assert "thesaurus-referentiel-national-des-interactions-medicamenteuses-20102020.json" in top.provenance


def test_the_relation_is_labelled_in_the_questions_language(retriever: KGRetriever) -> None:
    assert retriever.retrieve("华法林和阿司匹林能一起吃吗？").facts[0].relation_label == "存在相互作用"
    assert retriever.retrieve("Can I take warfarin with aspirin?").facts[0].relation_label == "interacts with"


def test_an_nsaid_with_warfarin_finds_the_rule_between_their_classes(retriever: KGRetriever) -> None:
    top = retriever.retrieve("Can I take ibuprofen with warfarin?", top_k=5).facts[0]
    assert top.relation == "interacts_with"
    assert {top.head, top.tail} == {"ddi:classe:anticoagulants oraux", "ddi:classe:anti-inflammatoires non steroidiens"}


def test_a_pair_the_thesaurus_does_not_join_gets_no_interaction_fact(retriever: KGRetriever) -> None:
    """No record joins amoxicillin and paracetamol: nothing may be presented as their interaction
    (and the absence of one is not evidence that the pair is safe)."""
    facts = retriever.retrieve("Can I take amoxicillin with paracetamol?", top_k=10).facts
    a, b = family(retriever, "ddi:amoxicilline"), family(retriever, "ddi:paracetamol")
    assert not [f for f in facts if f.relation == "interacts_with" and joins(f, a, b)]
