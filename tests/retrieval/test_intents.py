"""Intent detection: what a question asks, in colloquial Chinese and plain English."""

from __future__ import annotations

from importlib import resources

import pytest

from kgrag.errors import ConfigError
from kgrag.kg.relations import vocabulary
from kgrag.retrieval.intents import (
    DEFAULT_PRIOR,
    detect_intents,
    intent_specs,
    parse_intents,
    relation_prior,
)


def names(question: str) -> list[str]:
    return [i.name for i in detect_intents(question)]


def test_every_relation_in_the_intents_file_is_in_the_vocabulary() -> None:
    text = resources.files("kgrag.retrieval").joinpath("data", "intents.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]
    rel_ids = {row[2] for row in rows if row[1] == "rel"}
    assert len(rel_ids) > 40
    assert rel_ids - {r.id for r in vocabulary()} == set()


def test_symptom_questions_also_reach_hpo_phenotypes() -> None:
    symptoms = next(s for s in intent_specs() if s.name == "symptoms")
    assert {"has_symptom", "clinical_sign", "related_symptom", "has_phenotype"} <= set(symptoms.relations)


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("糖尿病挂什么科", "department"),
        ("孩子咳嗽去哪个科", "department"),
        ("头疼看什么科好", "department"),
        ("糖尿病人該掛什麼科？", "department"),
        ("高血压有什么症状", "symptoms"),
        ("得了肺炎会怎样", "symptoms"),
        ("心梗有什么表现", "symptoms"),
        ("感冒吃什么药", "treatment"),
        ("胃炎怎么治", "treatment"),
        ("阿莫西林有什么副作用", "side_effects"),
        ("布洛芬的不良反应", "side_effects"),
        ("孕妇能不能吃布洛芬", "contraindications"),
        ("糖尿病能吃西瓜吗", "contraindications"),
        ("阿莫西林一次吃多少", "dosage"),
        ("布洛芬怎么吃", "dosage"),
        ("糖尿病的ICD编码是多少", "icd_code"),
        ("糖尿病会引起什么", "complications"),
        ("高血压的并发症", "complications"),
        ("乙肝会传染吗", "contagious"),
        ("肺炎是什么原因引起的", "causes"),
        ("为什么会得糖尿病", "causes"),
        ("胃癌要做什么检查", "tests"),
        ("查什么能确诊胃癌", "tests"),
        ("哪些人容易得痛风", "population"),
        ("怎么预防流感", "prevention"),
        ("白血病能治好吗", "prognosis"),
        ("高血压会遗传吗", "inheritance"),
        ("阿司匹林治什么", "indication"),
        ("氯化钾片属于哪类药", "classification"),
        ("糖尿病属于什么病", "classification"),
        ("板蓝根颗粒含有哪些成分", "ingredients"),
    ],
)
def test_chinese_questions_colloquial_forms_included(question: str, intent: str) -> None:
    assert intent in names(question)


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("Which department should I see for diabetes?", "department"),
        ("what kind of doctor treats gout", "department"),
        ("What are the symptoms of hypertension?", "symptoms"),
        ("early signs of stroke", "symptoms"),
        ("what causes asthma", "causes"),
        ("how is tuberculosis treated", "treatment"),
        ("best medication for migraine", "treatment"),
        ("side effects of metformin", "side_effects"),
        ("Can I take ibuprofen while pregnant?", "contraindications"),
        ("how much ibuprofen should I take", "dosage"),
        ("what is the ICD-10 code for asthma", "icd_code"),
        ("complications of diabetes", "complications"),
        ("is flu contagious", "contagious"),
        ("how does HIV spread", "contagious"),
        ("what tests diagnose diabetes", "tests"),
        ("who gets gout", "population"),
        ("how to prevent malaria", "prevention"),
        ("what is the prognosis of leukemia", "prognosis"),
        ("what is lupus", "definition"),
        ("what class of drug is metformin", "classification"),
        ("which category does gout belong to", "classification"),
        ("what are the ingredients of tiger balm", "ingredients"),
    ],
)
def test_english_questions(question: str, intent: str) -> None:
    assert intent in names(question)


def test_a_class_by_use_is_not_the_use_itself() -> None:
    """用途 asks what a drug is for (indication); 用途分类 / 在用途上属于哪类 ask for its class."""
    assert names("阿莫西林的用途是什么") == ["indication"]
    assert names("氯化钾片的用途分类是什么？") == ["classification"]
    assert "indication" not in names("双黄连咀嚼片在用途上属于哪一类药？")


def test_a_kind_of_doctor_or_medicine_is_not_a_classification() -> None:
    assert names("what kind of doctor should I see for acne") == ["department"]
    assert "classification" not in names("what type of medicine treats flu")
    assert names("What type of diabetes is most common?") == ["classification"]


def test_the_matched_cue_is_reported() -> None:
    [intent] = detect_intents("糖尿病挂什么科")
    assert (intent.name, intent.cue) == ("department", "挂什么科")


def test_definition_only_when_nothing_more_specific_is_asked() -> None:
    assert names("什么是糖尿病") == ["definition"]
    assert names("糖尿病是什么") == ["definition"]
    assert names("糖尿病的症状是什么") == ["symptoms"]
    assert names("what are the symptoms of hypertension") == ["symptoms"]


def test_several_intents_in_order_of_appearance() -> None:
    assert names("糖尿病有什么症状，挂什么科") == ["symptoms", "department"]


def test_english_cues_match_whole_words_only() -> None:
    assert "tests" not in names("what kind of doctor treats gout")  # "ct" inside "doctor"
    assert names("my dogs are fine") == []  # "dos" of dosage inside a word


@pytest.mark.parametrize("question", ["今天天气怎么样", "what's the weather today", "你好", "hello"])
def test_small_talk_has_no_intent(question: str) -> None:
    assert detect_intents(question) == []


def test_relation_prior_follows_the_intents() -> None:
    department = detect_intents("糖尿病挂什么科")
    assert relation_prior(department, "department") == 1.0
    assert relation_prior(department, "side_effect") == DEFAULT_PRIOR
    symptoms = detect_intents("what are the symptoms of hypertension")
    assert relation_prior(symptoms, "has_phenotype") == 1.0
    assert 0 < relation_prior(symptoms, "related_symptom") < 1
    assert relation_prior([], "department") == DEFAULT_PRIOR
    assert relation_prior(department, "cause", default=0.0) == 0.0


def test_the_highest_weight_wins_when_intents_share_a_relation() -> None:
    both = detect_intents("怎么预防高血压，有什么高危因素")
    assert {"prevention", "causes"} <= {i.name for i in both}
    assert relation_prior(both, "risk_factor") == 0.8


def test_intents_are_immutable() -> None:
    [intent] = detect_intents("糖尿病挂什么科")
    with pytest.raises(TypeError):
        intent.relations["department"] = 0.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x\trel\tno_such_relation\t1.0\nx\tzh\t啊\n", "unknown relation 'no_such_relation'"),
        ("x\trel\tdepartment\t1.5\nx\tzh\t啊\n", "weight must be in"),
        ("x\trel\tdepartment\t1.0\nx\ten\t(unclosed\n", "bad cue pattern"),
        ("x\tcue\t挂什么科\n", "expected 'intent<TAB>field<TAB>value'"),
        ("x\tzh\t挂什么科\n", "needs at least one cue and one relation"),
    ],
)
def test_a_bad_intents_file_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_intents(text, "mine.tsv")
