"""A patient naming one symptom that several diseases share is asked the one finding that tells
two of them apart, from the KG's facts (issue 12: consultations whose right move is a question)."""

from __future__ import annotations

import pytest

from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.model import SourceInfo
from kgrag.kgqa.consult import Consultations
from kgrag.kgqa.entities import EntityNames


def consult_kg() -> KnowledgeGraph:
    b = KGBuilder()
    b.add_source(SourceInfo("cmekg", "pycmekg", "test", "MIT", ("cmekg.jsonl",)))
    f = b.register_file("cmekg", "cmekg.jsonl")
    for name in ("偏头痛", "脑膜炎", "紧张性头痛"):
        b.add_entity("cmekg:" + name, name, "zh", "cmekg", types=("疾病",))
    for name in ("头痛", "畏光", "颈项强直", "高热"):
        b.add_entity("cmekg:" + name, name, "zh", "cmekg", types=("症状",))
    symptoms = {"偏头痛": ["头痛", "畏光"], "脑膜炎": ["头痛", "颈项强直", "高热"], "紧张性头痛": ["头痛"]}
    line = 0
    for disease, found in symptoms.items():
        for s in found:
            line += 1
            b.add_fact("cmekg:" + disease, "has_symptom", tail="cmekg:" + s, file=f, line=line)
    return b.build()


@pytest.fixture(scope="module")
def records() -> list:  # type: ignore[type-arg]
    kg = consult_kg()
    return Consultations(EntityNames(kg), seed=0).records(per_lang=10)


def test_a_shared_symptom_gets_a_reply_naming_two_causes_and_asking_one_finding(records: list) -> None:  # type: ignore[type-arg]
    [r] = [r for r in records if r.head == "cmekg:头痛"]  # 头痛 hashes to train (split seed 0)
    assert r.type == "consult" and r.lang == "zh" and "头痛" in r.question
    named = [d for d in ("偏头痛", "脑膜炎", "紧张性头痛") if d in r.answer]
    assert len(named) >= 2
    asked = [w for w in ("畏光", "颈项强直", "高热") if w in r.answer]
    assert len(asked) == 1  # one question, not a list
    assert "？" in r.answer and "就医" in r.answer


def test_its_facts_are_the_three_that_say_so(records: list) -> None:  # type: ignore[type-arg]
    kg = consult_kg()
    for r in records:
        facts = [kg.fact(j) for j in r.facts]
        assert len(facts) == 3 and all(f.relation == "has_symptom" for f in facts)
        d1, d2 = facts[0].head, facts[1].head
        assert facts[0].tail == facts[1].tail == "cmekg:头痛" and d1 != d2
        assert facts[2].head == d1 and kg.entity_name(kg.index_of(facts[2].tail)) in r.answer


def test_a_symptom_of_one_disease_only_gets_no_consultation(records: list) -> None:  # type: ignore[type-arg]
    assert not [r for r in records if r.head in ("cmekg:畏光", "cmekg:颈项强直", "cmekg:高热")]


def test_consultations_stay_out_of_the_test_splits_and_english(records: list) -> None:  # type: ignore[type-arg]
    kg = consult_kg()
    assert Consultations(EntityNames(kg), seed=0).records(per_lang=10, langs=("en",)) == []
    assert all(r.split in ("train", "validation") for r in records)
