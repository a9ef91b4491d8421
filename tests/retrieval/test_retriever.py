"""The retriever end to end on the real default store (no vector index: structure + lexical)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgrag.errors import ConfigError, QuestionError
from kgrag.limits import MAX_QUESTION_CHARS
from kgrag.retrieval.retriever import KGRetriever


@pytest.fixture(scope="module")
def retriever(default_store: Path) -> KGRetriever:
    return KGRetriever.load(default_store)


def test_department_question_ranks_department_facts_first(retriever: KGRetriever) -> None:
    result = retriever.retrieve("糖尿病挂什么科", top_k=5)
    assert [f.relation for f in result.facts[:2]] == ["department", "department"]
    assert {f.tail_text for f in result.facts[:2]} == {"内分泌科", "内科"}
    assert result.facts[0].head == "cmekg:糖尿病" and result.facts[0].source == "cmekg"
    assert "cmekg.pkl" in result.facts[0].provenance


def test_english_question_reaches_chinese_facts_through_links(retriever: KGRetriever) -> None:
    result = retriever.retrieve("what are the symptoms of hypertension", top_k=10)
    assert result.lang == "en"
    heads = {f.head for f in result.facts}
    assert "cmekg:高血压" in heads
    assert all(
        f.relation in {"has_symptom", "clinical_sign", "related_symptom", "has_phenotype"} for f in result.facts[:5]
    )
    assert result.facts[0].relation_label == "has symptom"


@pytest.mark.parametrize("question", ["What are the side effects of aspirin?", "阿司匹林有什么副作用？"])
def test_an_ingredient_reaches_the_side_effects_kept_on_its_products(retriever: KGRetriever, question: str) -> None:
    result = retriever.retrieve(question, top_k=5)
    linked = [e.entity_id for e in result.entities]  # in English also the drug dictionary's aspirin, its twin
    assert "cmekg:阿司匹林" in linked and set(linked) <= {"cmekg:阿司匹林", "drugs:DB00945"}
    kg = retriever.kg
    for f in result.facts[:4]:
        assert f.relation == "side_effect"
        product = kg.index_of(f.head)
        assert "cmekg:阿司匹林" in {kg.entity_id(int(kg.arrays["f_tail"][j])) for j in kg.out_facts(product)}


def test_ingredients_borrow_english_names_from_single_ingredient_products(retriever: KGRetriever) -> None:
    from kgrag.retrieval.names import ingredient_aliases

    kg = retriever.kg
    derived = {(name, kg.entity_name(row)) for name, row in ingredient_aliases(kg)}
    assert ("aspirin", "阿司匹林") in derived
    assert not any(zh in ("盐酸", "水", "氧") for _, zh in derived)  # salts and excipients listed alone


def test_no_medical_entity_gives_an_explicit_empty_result(retriever: KGRetriever) -> None:
    result = retriever.retrieve("今天天气怎么样？")
    assert result.facts == [] and result.entities == []
    assert result.reason and "no medical entity" in result.reason


def test_results_are_deduplicated(retriever: KGRetriever) -> None:
    facts = retriever.retrieve("高血压吃什么药", top_k=30).facts
    keys = [(f.head_name, f.relation, f.tail_text.casefold()) for f in facts]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("question", ["", "   ", "病" * (MAX_QUESTION_CHARS + 1)])
def test_bad_questions_are_refused_clearly(retriever: KGRetriever, question: str) -> None:
    with pytest.raises(QuestionError):
        retriever.retrieve(question)


def test_top_k_out_of_range_is_refused(retriever: KGRetriever) -> None:
    with pytest.raises(ConfigError, match="top_k must be between 1 and 100; got 0"):
        retriever.retrieve("糖尿病", top_k=0)


@pytest.mark.parametrize(
    ("question", "head", "relation", "tail"),
    [
        # the fact joining the two named entities comes first, though its words are Chinese
        ("Explain the relation between Acrophobia and vertigo.", "恐高症", "has_symptom", "眩晕"),
        # reached through a product of the named ingredient
        ("阿司匹林会引起胃出血吗？", None, "side_effect", "胃出血"),
        # a choice question: only the right option is joined to the disease (the caps of the
        # disease's 300-odd phenotypes used to drop it)
        (
            "Which of the following is a clinical feature of Juvenile nephropathic cystinosis?\n"
            "A. tapered phalanx of finger\nB. seizure\nC. elevated urine 3-hydroxyglutaric level\n"
            "D. homonymous hemianopia",
            "Juvenile nephropathic cystinosis",
            "has_phenotype",
            "Seizure",
        ),
    ],
)
def test_a_fact_joining_two_named_entities_ranks_first(
    retriever: KGRetriever, question: str, head: str | None, relation: str, tail: str
) -> None:
    first = retriever.retrieve(question, top_k=8).facts[0]
    assert (first.relation, first.tail_text) == (relation, tail)
    assert head is None or first.head_name == head


def test_entities_of_one_mention_are_not_joined_to_each_other(retriever: KGRetriever) -> None:
    """The one word "Oxygen" names 氧 and 医用氧 (医用氧 —ingredient→ 氧): one mention, no bridge."""
    kg = retriever.kg
    oxygen, medical = kg.index_of("cmekg:氧"), kg.index_of("cmekg:医用氧")
    seeds = [(oxygen, 1.0), (medical, 1.0)]
    one = retriever.expander.expand(seeds, mentions={oxygen: 0, medical: 0})
    two = retriever.expander.expand(seeds, mentions={oxygen: 0, medical: 1})
    assert not any(c.bridge for c in one)
    joined = [c for c in two if c.bridge]
    assert joined and all(
        {int(kg.arrays["f_head"][c.fact]), int(kg.arrays["f_tail"][c.fact])} == {oxygen, medical} for c in joined
    )


def test_odd_characters_do_not_crash(retriever: KGRetriever) -> None:
    for q in ["糖尿病😀挂什么科？？", "ＤＩＡＢＥＴＥＳ　症状", "糖尿病人該掛什麼科", "hypertension 高血压 mixed ✓"]:
        retriever.retrieve(q)


def test_without_intent_relations_take_turns() -> None:
    from kgrag.retrieval.retriever import _diversify

    items = [10, 11, 12, 13, 14, 15]
    rels = [1, 1, 1, 2, 2, 3]
    assert _diversify(items, rels, 4, has_intent=False) == [10, 13, 15, 11]


def test_with_intent_the_last_third_goes_to_other_relations() -> None:
    from kgrag.retrieval.retriever import _diversify

    items = list(range(20))
    rels = [1] * 15 + [2, 2, 3, 4, 5]
    picked = _diversify(items, rels, 10, has_intent=True)
    assert picked[:7] == list(range(7)) and picked[7:] == [15, 17, 18]
