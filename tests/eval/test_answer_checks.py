"""`kgrag eval qa --rag` checks each open answer against its prompt's facts as the service does:
supported sentences are counted, and answers the service would replace are counted apart."""

from __future__ import annotations

from dataclasses import dataclass

from kgrag.eval.answer_checks import check_fields, check_figures
from kgrag.generation.prompts import Citation
from kgrag.kg.graph import KnowledgeGraph


def _citations(kg: KnowledgeGraph) -> tuple[Citation, ...]:
    """The tiny KG's facts of 糖尿病 as a prompt numbers them: 多尿 [1], 多饮 [2], 内分泌科 [3]."""
    rows = kg.out_facts(kg.index_of("cmekg:糖尿病")).tolist()[:3]
    labels = {"has_symptom": "常见症状", "department": "就诊科室"}
    return tuple(Citation(n, j, "糖尿病", labels[kg.fact_relation(j)], kg.fact_tail_text(j), "cmekg", f"mini:{j}")
                 for n, j in enumerate(rows, 1))


def test_a_grounded_answer_has_its_sentences_supported(tiny_kg: KnowledgeGraph) -> None:
    cited = _citations(tiny_kg)
    assert [c.tail for c in cited] == ["多尿", "多饮", "内分泌科"]
    fields = check_fields("糖尿病的常见症状有多尿[1]和多饮[2]。建议挂内分泌科[3]。请咨询医生。", cited, "zh", tiny_kg)
    assert fields == {"sentences_supported": 2, "sentences_judged": 2, "composed": False, "compose_reason": None}


def test_a_claim_its_citation_does_not_make_is_unsupported(tiny_kg: KnowledgeGraph) -> None:
    fields = check_fields("糖尿病会导致失明[1]。常见症状有多饮[2]。", _citations(tiny_kg), "zh", tiny_kg)
    assert (fields["sentences_supported"], fields["sentences_judged"], fields["composed"]) == (1, 2, False)


def test_an_answer_copying_the_facts_block_or_citing_nothing_would_be_composed(tiny_kg: KnowledgeGraph) -> None:
    cited = _citations(tiny_kg)
    echo = check_fields("<facts>\n[1] 糖尿病 — 常见症状 — 多尿\n</facts>", cited, "zh", tiny_kg)
    assert echo["composed"] is True and echo["compose_reason"] == "echo"
    bare = check_fields("这个病要多喝水，注意休息。", cited, "zh", tiny_kg)
    assert bare["composed"] is True and bare["compose_reason"] == "cites_nothing"


@dataclass(frozen=True)
class _Outcome:
    sentences_supported: int | None = None
    sentences_judged: int | None = None
    composed: bool | None = None
    compose_reason: str | None = None


def test_figures_count_composed_answers_apart_from_the_supported_share() -> None:
    outs = [
        _Outcome(2, 2, False),
        _Outcome(1, 2, False),
        _Outcome(0, 3, True, "cites_nothing"),
        _Outcome(0, 1, True, "echo"),
        _Outcome(),  # closed-book or a choice question: not checked
    ]
    fig = check_figures(outs)
    assert fig["n_checked"] == 4 and fig["composed"] == 2
    assert fig["composed_reasons"] == {"cites_nothing": 1, "echo": 1}
    assert fig["sentences_judged"] == 4 and fig["supported"] == 0.75  # kept answers only: 3 of 4
    assert fig["supported_all"] == round(3 / 8, 4)


def test_no_checked_answer_gives_no_share() -> None:
    fig = check_figures([_Outcome(), _Outcome()])
    assert fig == {"n_checked": 0, "composed": 0, "composed_reasons": {}, "sentences_judged": 0, "supported": None,
                   "supported_all": None}
