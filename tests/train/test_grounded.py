"""Grounded training examples: the service's own prompt, the answering facts among distractors,
an answer that cites them — or says the facts do not cover the question."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kgrag.generation.prompts import SYSTEM_PROMPTS
from kgrag.train.grounded import NOT_COVERED, GroundedBuilder, cite


def test_citations_follow_the_facts_mentions() -> None:
    out = cite("糖尿病的常见症状包括多饮、多尿。", [(2, "多饮"), (5, "多尿")])
    assert out == "糖尿病的常见症状包括多饮[2]、多尿[5]。"


def test_a_fact_not_named_verbatim_is_cited_before_the_final_stop() -> None:
    assert cite("Aspirin can cause bleeding.", [(1, "出血")]) == "Aspirin can cause bleeding[1]."
    assert cite("It is a rare disease", [(3, "罕见病")]) == "It is a rare disease[3]"


def test_a_mention_inside_the_entity_asked_about_is_not_cited() -> None:
    answer = "Multiple lineage myelodysplasia falls under myelodysplasia."
    out = cite(answer, [(8, "Myelodysplasia")], avoid=("Multiple lineage myelodysplasia",))
    assert out == "Multiple lineage myelodysplasia falls under myelodysplasia[8]."


def test_longer_tails_claim_their_words_first() -> None:
    assert cite("症状有头痛、剧烈头痛。", [(1, "头痛"), (2, "剧烈头痛")]) == "症状有头痛[1]、剧烈头痛[2]。"


@pytest.mark.slow
def test_grounded_chats_over_the_default_store(default_store: Path, tmp_path: Path) -> None:
    from kgrag.kg.store import load_store
    from kgrag.kgqa import make_kgqa
    from kgrag.kgqa.records import Example, read_examples

    make_kgqa(default_store, tmp_path / "kgqa", limit=3000, formats=["chat"])
    kg = load_store(default_store)
    examples: list[Example] = [e for e in read_examples(tmp_path / "kgqa" / "chat" / "train.jsonl") if e.facts][:400]
    builder = GroundedBuilder(kg, seed=0, none_share=0.2)
    covered = none = 0
    for ex in examples:
        system, *earlier, user, answer = builder.build(ex)  # a follow-up keeps its first turn
        assert len(earlier) == len(ex.messages) - 2
        assert system.content in SYSTEM_PROMPTS.values()
        assert "<facts>" in user.content and ex.question.split("\n")[0][:20] in user.content
        shown = re.findall(r"^\[(\d+)\] ", user.content, flags=re.M)
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.content)}
        if answer.content in NOT_COVERED.values():
            none += 1
            assert not cited
            continue
        covered += 1
        assert len(shown) >= len(set(ex.facts)) + 2  # distractors are always there
        assert cited and cited <= {int(n) for n in shown}
    assert covered > none > 0
    assert builder.build(examples[0]) == builder.build(examples[0])  # seeded per example
