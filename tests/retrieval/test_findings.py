"""A patient who describes findings, not a disease, gets the diseases that have most of them and
what was asked about those diseases, every step a cited fact (issue 13, point 3)."""

from __future__ import annotations

import pytest

from kgrag.retrieval.findings import SYMPTOM_TYPES, _lab_readings
from kgrag.retrieval.normalize import normalize_question
from kgrag.retrieval.retriever import KGRetriever

GOUT_LIKE = "关节红肿疼痛，血尿酸高，应该看什么科？"


def test_findings_lead_to_diseases_and_to_their_department(default_retriever: KGRetriever) -> None:
    kg = default_retriever.kg
    result = default_retriever.retrieve(GOUT_LIKE, top_k=8)
    diseases = [h["name"] for h in result.hypotheses]
    assert {"关节炎", "高尿酸血症"} <= set(diseases)
    # first the evidence: each hypothesis' facts joining it to a finding the question names
    first = result.facts[0]
    assert first.head_name == diseases[0] and first.relation in ("has_symptom", "clinical_sign", "related_symptom")
    assert kg.entity_name(kg.fact_tail(first.fact)) in GOUT_LIKE
    # then what was asked, of those diseases, cited with the disease as head
    departments = [f for f in result.facts if f.relation == "department"]
    assert departments and all(f.head_name in diseases for f in departments)
    assert any(f.head_name == "高尿酸血症" and f.tail_text == "风湿免疫科" for f in departments)


def test_each_hypothesis_carries_its_findings_and_the_facts_that_earned_it(default_retriever: KGRetriever) -> None:
    kg = default_retriever.kg
    (top, *_) = default_retriever.retrieve("发热，咳嗽，咳痰，胸痛，要做什么检查？", top_k=8).hypotheses
    assert top["findings"] == ["发热", "咳嗽", "咳痰", "胸痛"]  # all four, in the question's order
    for j, finding in zip(top["evidence"], top["findings"], strict=True):
        assert kg.entity_id(kg.fact_head(j)) == top["id"] and kg.entity_name(kg.fact_tail(j)) == finding


def test_a_rarer_finding_weighs_more_than_a_common_one(default_retriever: KGRetriever) -> None:
    ranker = default_retriever.findings
    kg = default_retriever.kg
    (pain,) = [r for r in kg.find("疼痛") if kg.entity_source(r) == "cmekg"]
    (red,) = [r for r in kg.find("关节红肿") if kg.entity_source(r) == "cmekg"]
    assert len(ranker.index.diseases_of(pain)) > 100 * len(ranker.index.diseases_of(red))
    assert ranker.index.weight(red) > 2 * ranker.index.weight(pain)


def test_the_top_hypotheses_ask_about_a_symptom_the_question_did_not_name(default_retriever: KGRetriever) -> None:
    kg = default_retriever.kg
    result = default_retriever.retrieve("胸痛，出冷汗，呼吸困难，挂什么科？", top_k=8)
    ask = result.hypotheses[0].get("ask_about")
    assert isinstance(ask, str) and ask not in "胸痛，出冷汗，呼吸困难"
    assert any(t in SYMPTOM_TYPES for r in kg.find(ask) for t in kg.types_of(r))


@pytest.mark.parametrize("question", [
    "高血压和糖尿病患者能吃什么药？",  # two diseases: each a finding of some third disease in CMeKG
    "糖尿病人头痛怎么办？",  # one disease, one symptom
    "糖尿病挂什么科？",
    "What are the side effects of aspirin?",
])
def test_a_question_about_named_diseases_is_not_read_as_findings(default_retriever: KGRetriever,
                                                                 question: str) -> None:
    assert default_retriever.retrieve(question, top_k=8).hypotheses == []


def test_names_match_on_word_boundaries_only(default_retriever: KGRetriever) -> None:
    kg = default_retriever.kg
    mentions = default_retriever.findings.mentions(normalize_question(GOUT_LIKE))
    named = {kg.entity_name(f) for m in mentions for f in m.findings}
    assert "血尿" not in named  # it ends inside the word 血尿酸
    assert {"关节红肿", "疼痛"} <= named


@pytest.mark.parametrize(("said", "kg_name"), [
    ("血尿酸高", "高尿酸血症"), ("血糖偏高", "高血糖"), ("血钾低", "低钾血症"), ("血压升高", "高血压"),
    ("尿酸增高", "尿酸升高"),
])
def test_a_lab_value_in_patient_wording_reads_as_the_kg_names_it(said: str, kg_name: str) -> None:
    assert kg_name in _lab_readings(said)


def test_other_text_has_no_lab_reading() -> None:
    assert _lab_readings("关节红肿") == [] and _lab_readings("高") == []
