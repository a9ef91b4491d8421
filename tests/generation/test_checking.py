"""The answer check: each sentence against the facts it cites, the echo, cites-nothing and
contradiction flags, and the answer composed from the facts when the model's fails."""

from __future__ import annotations

import re

from kgrag.generation.answer import Answerer, PreparedAnswer
from kgrag.generation.checking import apply_check, check_answer, compose_answer, split_sentences
from kgrag.generation.prompts import Citation, GroundedPrompt, build_grounded_prompt
from kgrag.generation.safety import assess
from kgrag.generation.types import GenerationConfig
from kgrag.retrieval.retriever import RetrievalResult, RetrievedFact


def fact(i: int, head: str, relation: str, label: str, tail: str, source: str = "cmekg") -> RetrievedFact:
    return RetrievedFact(fact=i, head=f"x:{head}", head_name=head, relation=relation, relation_label=label,
                         tail=None, tail_text=tail, source=source, provenance=f"file:{i}", score=1.0)


ZH_FACTS = [
    fact(0, "高血压", "has_symptom", "常见症状", "头痛"),
    fact(1, "高血压", "has_symptom", "常见症状", "头晕"),
    fact(2, "高血压", "department", "就诊科室", "心血管内科"),
]
EN_FACTS = [
    fact(0, "aspirin", "side_effect", "side effect", "gastrointestinal bleeding", "umls"),
    fact(1, "aspirin", "side_effect", "side effect", "asthma", "umls"),
    fact(2, "aspirin", "indication", "indication", "fever", "umls"),
]


def prompt(question: str, facts: list[RetrievedFact], lang: str) -> GroundedPrompt:
    return build_grounded_prompt(question, facts, lang=lang, count_tokens=len, max_prompt_tokens=1 << 20)


def zh() -> tuple[Citation, ...]:
    return prompt("高血压有哪些症状？", ZH_FACTS, "zh").citations


def en() -> tuple[Citation, ...]:
    return prompt("What are the side effects of aspirin?", EN_FACTS, "en").citations


def statuses(text: str, citations: tuple[Citation, ...], lang: str) -> list[str]:
    return [s.status for s in check_answer(text, citations, lang=lang).sentences]


def test_a_chinese_sentence_naming_the_tail_it_cites_is_supported_and_one_citing_an_unrelated_fact_is_not() -> None:
    check = check_answer("高血压的常见症状包括头痛[1]和头晕[2]。高血压会导致失明[3]。", zh(), lang="zh")
    first, second = check.sentences
    assert (first.cites, first.supported_by, first.status) == ((1, 2), (1, 2), "supported")
    assert (second.cites, second.supported_by, second.status) == ((3,), (), "unsupported")
    assert check.supported_share == 0.5 and check.reason is None


def test_an_english_sentence_is_supported_by_the_words_of_its_fact_and_a_claim_without_a_citation_is_not() -> None:
    text = "Aspirin can cause bleeding in the gastrointestinal tract [1]. It also cures migraine."
    check = check_answer(text, en(), lang="en")
    assert [(s.supported_by, s.status) for s in check.sentences] == [((1,), "supported"), ((), "unsupported")]
    assert check.supported_share == 0.5


def test_a_citation_of_a_number_that_was_not_given_supports_nothing() -> None:
    check = check_answer("Aspirin may cause asthma [7].", en(), lang="en")
    assert check.sentences[0].cites == (7,) and check.sentences[0].status == "unsupported"


def test_disclaimers_and_the_not_covered_refusal_are_neutral_and_not_counted() -> None:
    assert statuses("高血压的常见症状包括头痛[1]。如有需要，请咨询医生。", zh(), "zh") == ["supported", "neutral"]
    text = ("Aspirin may cause asthma [2]. This is not medical advice; please see a clinician. "
            "The facts from the knowledge graph do not cover this question, so I cannot answer it from them.")
    check = check_answer(text, en(), lang="en")
    assert [s.status for s in check.sentences] == ["supported", "neutral", "neutral"]
    assert check.supported_share == 1.0
    refusal = check_answer("知识图谱提供的事实没有涉及这个问题，我无法据此回答；如有需要，请咨询医生。", (), lang="zh")
    assert {s.status for s in refusal.sentences} == {"neutral"} and refusal.supported_share is None


def test_sentences_split_in_both_languages_keeping_a_citation_written_after_the_full_stop() -> None:
    text = "Aspirin can cause asthma. [2] A dose of 2.5 mg is small! 1. Fever [3]\n高血压会头痛[1]。真的吗？"
    assert split_sentences(text) == [
        "Aspirin can cause asthma. [2]", "A dose of 2.5 mg is small!", "Fever [3]", "高血压会头痛[1]。", "真的吗？",
    ]
    assert split_sentences("<facts>\n[2] 拜阿司匹灵 — side effect — 不适\n</facts>") == [
        "<facts>", "[2] 拜阿司匹灵 — side effect — 不适", "</facts>",
    ]


def test_copying_the_rendered_facts_block_is_an_echo() -> None:
    p = prompt("高血压有哪些症状？", ZH_FACTS, "zh")
    user = p.messages[-1].content
    block = user[user.index("<facts>"): user.index("</facts>") + len("</facts>")]
    assert check_answer(block, p.citations, lang="zh").echo
    lines = [line for line in block.splitlines() if line.startswith("[")]
    assert check_answer(lines[0], p.citations, lang="zh").echo, "one line with its '— relation —' is an echo"
    # two facts nearly verbatim, without the dashes and numbers
    copied = "\n".join(re.sub(r"[\[\]\d—()]|cmekg", " ", line) for line in lines[:2])
    assert check_answer(copied, p.citations, lang="zh").echo
    assert not check_answer("高血压的常见症状包括头痛[1]、头晕[2]。", p.citations, lang="zh").echo


def test_an_answer_that_cites_and_names_no_fact_cites_nothing_but_one_without_facts_does_not() -> None:
    assert check_answer("Aspirin is a popular medicine used by many people.", en(), lang="en").cites_nothing
    assert not check_answer("Aspirin may cause asthma.", en(), lang="en").cites_nothing
    assert not check_answer("Aspirin is a popular medicine.", (), lang="en").cites_nothing


def test_answering_yes_to_a_fact_that_says_no_is_a_contradiction_and_agreeing_is_supported() -> None:
    facts = [fact(0, "高血压", "contagious", "传染性", "无传染性"), *ZH_FACTS]
    citations = prompt("高血压会传染吗？", facts, "zh").citations
    wrong = check_answer("高血压有传染性[1]。", citations, lang="zh")
    assert wrong.contradiction and wrong.reason == "contradiction" and wrong.sentences[0].status == "unsupported"
    right = check_answer("高血压没有传染性[1]。", citations, lang="zh")
    assert not right.contradiction and right.sentences[0].status == "supported"
    flu = prompt("Is influenza contagious?", [fact(0, "流行性感冒", "contagious", "contagiousness", "有")], "en")
    assert check_answer("Influenza is not contagious [1].", flu.citations, lang="en").contradiction
    assert not check_answer("Influenza is contagious [1].", flu.citations, lang="en").contradiction


def test_the_composed_answer_cites_every_clause_in_the_question_language_grouping_head_and_relation() -> None:
    assert compose_answer(zh(), "zh") == (
        "根据知识图谱：高血压的常见症状包括头痛[1]、头晕[2]；高血压的就诊科室为心血管内科[3]。"
    )
    text = compose_answer(en(), "en")
    assert text.startswith("According to the knowledge graph: ") and not re.search(r"[\u4e00-\u9fff]", text)
    for clause in text.removeprefix("According to the knowledge graph: ").split("; "):
        assert re.search(r"\[\d+\]\.?$", clause), clause
    assert "aspirin (side effect): gastrointestinal bleeding [1], asthma [2]" in text
    assert compose_answer((), "en") == ""


def test_a_failing_answer_is_replaced_by_the_composed_one_and_keeps_the_model_words_apart() -> None:
    model = "[1] 高血压 — 常见症状 — 头痛 (cmekg)"
    shown, check = apply_check(model, zh(), lang="zh")
    assert shown == compose_answer(zh(), "zh") and check.composed and check.reason == "echo"
    assert check.model_answer == model and check.to_dict()["model_answer"] == model
    passing = "高血压的常见症状包括头痛[1]。"
    assert apply_check(passing, zh(), lang="zh") == (passing, check_answer(passing, zh(), lang="zh"))


def test_an_answer_without_facts_is_never_composed() -> None:
    shown, check = apply_check("The knowledge graph has no facts for this; please see a doctor.", (), lang="en")
    assert not check.composed and shown.startswith("The knowledge graph") and check.supported_share is None


def test_the_check_as_json_has_the_fields_of_the_response() -> None:
    body = check_answer("高血压的常见症状包括头痛[1]。", zh(), lang="zh").to_dict()
    assert set(body) == {"supported_share", "sentences", "composed", "reason", "model_answer"}
    assert body["sentences"] == [{"text": "高血压的常见症状包括头痛[1]。", "cites": [1], "supported_by": [1],
                                  "status": "supported"}]


class NamedModel:
    """Only what :meth:`Answerer.finish` asks of a model: its name (nothing here generates)."""

    name = "named"
    max_context = 4096


def prepared(question: str, facts: list[RetrievedFact], lang: str) -> PreparedAnswer:
    safety = assess(question, lang)
    p = build_grounded_prompt(question, facts, lang=lang, count_tokens=len, max_prompt_tokens=1 << 20, safety=safety)
    retrieval = RetrievalResult(question, lang, [], [], list(facts))
    return PreparedAnswer(question, lang, (), retrieval, safety, p, GenerationConfig())


def test_the_answerer_keeps_the_emergency_advice_first_and_composes_after_it() -> None:
    answerer = Answerer(None, NamedModel())  # type: ignore[arg-type]
    p = prepared("我突然胸口剧痛，还一直出冷汗，怎么办？", ZH_FACTS, "zh")
    assert p.safety.emergency and p.safety.advice
    echo = answerer.finish(p, "<facts>\n[1] 高血压 — 常见症状 — 头痛 (cmekg)\n</facts>", "stop", 10, 10, 1.0)
    assert echo.answer == f"{p.safety.advice}\n\n{compose_answer(p.prompt.citations, 'zh')}"
    assert echo.check is not None and echo.check.composed and echo.check.reason == "echo"
    assert all(c.cited for c in echo.citations), "the composed answer cites every fact it was written from"
    body = echo.to_dict()["check"]
    assert isinstance(body, dict) and body["model_answer"].startswith("<facts>")
    good = answerer.finish(p, "请立即照做。高血压的常见症状包括头痛[1]。", "stop", 10, 10, 1.0)
    assert good.answer == f"{p.safety.advice}\n\n请立即照做。高血压的常见症状包括头痛[1]。"
    assert good.check is not None and not good.check.composed
    assert [s.status for s in good.check.sentences] == ["neutral", "supported"], "the advice is not checked"
    assert [c.cited for c in good.citations] == [True, False, False]


def test_a_sentence_that_translates_a_fact_is_supported_by_the_tails_other_names() -> None:
    facts = [fact(0, "拜阿司匹灵", "side_effect", "side effect", "休克"), fact(1, "拜阿司匹灵", "side_effect",
                                                                         "side effect", "耳鸣")]
    citations = prompt("What are the side effects of aspirin?", facts, "en").citations
    text = "Aspirin can cause shock[1] and tinnitus[2]."
    assert check_answer(text, citations, lang="en").supported_share == 0.0
    names = {1: ["shock", "Shock"], 2: ["tinnitus", "Ringing in the ears"]}
    assert check_answer(text, citations, lang="en", names=names).supported_share == 1.0


def test_tail_names_come_from_the_kg_english_names_and_twins(default_store) -> None:  # type: ignore[no-untyped-def]
    from kgrag.generation.checking import tail_names
    from kgrag.kg.store import load_store

    kg = load_store(default_store)
    (row,) = kg.find("拜阿司匹灵")[:1]
    j = next(int(j) for j in kg.out_facts(row) if kg.fact_tail_text(int(j)) == "耳鸣")
    assert "tinnitus" in [n.casefold() for n in tail_names(kg, j)]


def test_an_answer_that_only_declines_is_kept_not_composed() -> None:
    text = "知识图谱提供的事实没有涉及这个问题，我无法据此回答；如有需要，请咨询医生。"
    shown, check = apply_check(text, zh(), lang="zh")
    assert shown == text and not check.composed and not check.cites_nothing
