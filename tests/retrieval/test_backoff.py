"""What a patient asks reaches the facts that answer it: "X病人/患者" means X, and an entity that
lacks the asked relation borrows it from its nearest variant, whose name the fact keeps
(issue 13, points 2 and 4)."""

from __future__ import annotations

import pytest

from kgrag.retrieval.retriever import KGRetriever


@pytest.mark.parametrize(("question", "disease"), [
    ("高血压病人平时吃什么药？", "高血压"),
    ("冠心病患者平时吃什么药？", "冠心病"),
    ("哮喘患者能吃什么药", "哮喘"),
])
def test_a_patient_wording_links_the_disease_and_gets_its_drugs(default_retriever: KGRetriever, question: str,
                                                                 disease: str) -> None:
    result = default_retriever.retrieve(question, top_k=8)
    assert result.entities[0].surface.startswith(disease)
    assert default_retriever.kg.entity_name(result.entities[0].row) == disease
    drugs = [f for f in result.facts if f.relation == "drug_treatment"]
    assert drugs and all(f.head_name == disease for f in drugs)


@pytest.mark.parametrize(("question", "disease"), [("胆囊炎挂什么科？", "胆囊炎"), ("中耳炎挂什么科", "中耳炎"),
                                                   ("心肌炎挂什么科", "心肌炎")])
def test_a_disease_without_a_department_borrows_its_variants_and_says_whose(default_retriever: KGRetriever,
                                                                          question: str, disease: str) -> None:
    kg = default_retriever.kg
    (own,) = [r for r in kg.find(disease) if kg.entity_source(r) == "cmekg"]
    assert not any(kg.fact_relation(int(j)) == "department" for j in kg.out_facts(own))  # the case itself
    departments = [f for f in default_retriever.retrieve(question, top_k=8).facts if f.relation == "department"]
    assert departments
    assert all(f.head_name != disease and f.head_name.endswith(disease) for f in departments)


def test_an_entity_with_the_relation_borrows_nothing(default_retriever: KGRetriever) -> None:
    facts = default_retriever.retrieve("糖尿病挂什么科？", top_k=8).facts
    departments = [f for f in facts if f.relation == "department"]
    assert departments and {f.head_name for f in departments} == {"糖尿病"}
