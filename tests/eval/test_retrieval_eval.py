"""Retrieval metrics: exact recall@k / MRR on a handcrafted example, then a small real run."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from kgrag.eval.retrieval import evaluate, first_hit, percentiles, report, summarize, write_json_atomic
from kgrag.kgqa.questions import EvalQuestion, QuestionGenerator


def question(qid: str, gold: tuple[int, ...], accepted: tuple[int, ...] | None = None, **kw: str) -> EvalQuestion:
    fields = {"lang": "zh", "style": "template", "relation": "department", "head": "cmekg:A"} | kw
    return EvalQuestion(
        qid=qid,
        text=f"question {qid}",
        template="t",
        head_name="A",
        split="test",
        twins=("mondo:A",),
        gold=gold,
        accepted=accepted or gold,
        **fields,  # type: ignore[arg-type]
    )


class FixedRetriever:
    """Returns fixed fact rows, entities and intents per question text: a real (tiny) retriever."""

    def __init__(self, answers: dict[str, tuple[list[int], list[str], list[str]]]) -> None:
        self.answers = answers

    def retrieve(self, text: str, top_k: int = 10) -> SimpleNamespace:
        facts, entities, intents = self.answers[text]
        return SimpleNamespace(
            facts=[SimpleNamespace(fact=j, head_name="A", relation="department", tail_text="x") for j in facts][:top_k],
            entities=[SimpleNamespace(entity_id=e) for e in entities],
            intents=intents,
        )


def test_first_hit_is_one_based_and_none_without_a_hit() -> None:
    assert first_hit([7, 3, 5], {5, 3}) == 2
    assert first_hit([7, 3, 5], {9}) is None
    assert first_hit([], {1}) is None


def test_recall_and_mrr_on_a_handcrafted_example() -> None:
    fig = summarize([1, 2, None, 6, 10])
    assert fig["n"] == 5
    assert fig["recall@1"] == pytest.approx(1 / 5)
    assert fig["recall@5"] == pytest.approx(2 / 5)
    assert fig["recall@10"] == pytest.approx(4 / 5)
    assert fig["mrr"] == pytest.approx((1 + 1 / 2 + 0 + 1 / 6 + 1 / 10) / 5)
    assert summarize([]) == {"n": 0, "recall@1": 0.0, "recall@5": 0.0, "recall@10": 0.0, "mrr": 0.0}


def test_percentiles() -> None:
    assert percentiles([1.0, 2.0, 3.0, 4.0, 5.0]) == {"p50_ms": 3.0, "p95_ms": 4.8}
    assert percentiles([]) == {"p50_ms": 0.0, "p95_ms": 0.0}


def test_evaluate_ranks_twin_hits_and_classifies_misses() -> None:
    qs = [
        question("hit", gold=(10, 11)),
        question("twin", gold=(20,), accepted=(20, 21), style="colloquial"),
        question("unlinked", gold=(30,), lang="en"),
        question("elsewhere", gold=(40,), lang="en"),
        question("intent", gold=(50,), lang="en", style="colloquial"),
        question("ranked", gold=(60,), lang="en", style="colloquial"),
    ]
    retriever = FixedRetriever(
        {
            "question hit": ([1, 11, 10], ["cmekg:A"], ["department"]),
            "question twin": ([2, 3, 21], ["mondo:A"], ["department"]),
            "question unlinked": ([], [], ["department"]),
            "question elsewhere": ([5], ["cmekg:B"], ["department"]),
            "question intent": ([5], ["cmekg:A"], ["symptoms"]),
            "question ranked": (list(range(100, 120)), ["cmekg:A"], ["department"]),
        }
    )
    outcomes = evaluate(retriever, qs)
    assert [o.rank for o in outcomes] == [2, 3, None, None, None, None]
    assert [o.strict_rank for o in outcomes] == [2, None, None, None, None, None]
    assert [o.failure for o in outcomes] == [None, None, "no_link", "wrong_link", "intent_miss", "ranking"]
    metrics = report(outcomes)
    assert metrics["overall"]["recall@5"] == round(2 / 6, 4)
    assert metrics["overall"]["mrr"] == pytest.approx(round((1 / 2 + 1 / 3) / 6, 4))
    assert metrics["overall"]["strict_recall@10"] == pytest.approx(round(1 / 6, 4))
    assert metrics["by_lang"]["zh"]["recall@10"] == 1.0 and metrics["by_lang"]["en"]["recall@10"] == 0.0
    assert metrics["by_lang_style"]["zh/colloquial"]["recall@1"] == 0.0
    assert metrics["by_lang"]["en"]["failures"] == {"no_link": 1, "wrong_link": 1, "intent_miss": 1, "ranking": 1}
    assert set(metrics["by_lang_relation"]) == {"zh/department", "en/department"}
    assert outcomes[0].as_dict()["n_gold"] == 2 and "gold" not in outcomes[0].as_dict()


def test_json_is_written_atomically(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "results.json"
    write_json_atomic(out, {"recall@10": 0.9, "名": "糖尿病"})
    assert json.loads(out.read_text(encoding="utf-8")) == {"recall@10": 0.9, "名": "糖尿病"}
    with pytest.raises(TypeError):
        write_json_atomic(out, {"bad": object()})
    assert json.loads(out.read_text(encoding="utf-8"))["名"] == "糖尿病"  # the old file survives
    assert [p.name for p in out.parent.iterdir()] == ["results.json"]  # no temporary left behind


def test_small_end_to_end_run_on_the_default_store(default_store: Path) -> None:
    from kgrag.retrieval.retriever import KGRetriever

    retriever = KGRetriever.load(default_store)
    questions = QuestionGenerator(retriever.kg).generate(20, seed=0)
    outcomes = evaluate(retriever, questions)
    metrics = report(outcomes)
    assert {k: v["n"] for k, v in metrics["by_lang"].items()} == {"en": 20, "zh": 20}
    for fig in metrics["by_lang"].values():
        assert 0 <= fig["recall@1"] <= fig["recall@5"] <= fig["recall@10"] <= 1
        assert 0 < fig["p50_ms"] <= fig["p95_ms"]
    assert metrics["overall"]["recall@10"] > 0.3  # far below means the retriever or the gold broke
    assert all(o.latency_ms > 0 for o in outcomes)
