"""A question whose wording no intent cue knows still gets the relation it asks about: its intent is
read from the nearest questions of the KG-QA question bank (issue 13, "every kind of fact reaches
the prompt")."""

from __future__ import annotations

import pytest

from kgrag.kgqa.paraphrase import load_phrasings
from kgrag.retrieval.intent_model import READ_CUE, bank_exemplars, masked, relation_intents, shared_intent_model
from kgrag.retrieval.intents import detect_intents, intent_specs
from kgrag.retrieval.linking import EntityLink
from kgrag.retrieval.retriever import KGRetriever

# written for this test: neither a template, a colloquial phrasing nor a cue matches them
WHY = "How come people develop diabetes?"
HOW_COME = "糖尿病这个病是怎么来的？"
WHICH_WARD = "我妈有糖尿病，去医院的话该排哪一个部门？"


def _link(question: str, surface: str) -> EntityLink:
    start = question.index(surface)
    return EntityLink(0, "cmekg:x", surface, start, start + len(surface), "exact", 1.0)


def test_the_exemplars_are_the_bank_and_the_seen_families_never_the_held_out_ones() -> None:
    exemplars = bank_exemplars()
    ids = {e.id for e in exemplars}
    phrasings = load_phrasings()
    held = {p.id for (family, _, _), rows in phrasings.phrasings.items() if family in phrasings.held_out()
            for p in rows}
    assert held and not ids & held
    assert {"zh", "en"} == {e.lang for e in exemplars}
    assert all("{X}" not in e.text and "X" in e.text for e in exemplars)
    # every exemplar's intent is one the intents file declares, and answers its relation fully
    names = {s.name for s in intent_specs()}
    assert {e.intent for e in exemplars} <= names
    assert relation_intents(intent_specs())["department"] == "department"


def test_a_linked_mention_is_masked_so_the_wording_not_the_disease_decides() -> None:
    question = "我妈有糖尿病和高血压"
    links = [_link(question, "糖尿病"), _link(question, "糖尿"), _link(question, "高血压")]
    assert masked(question, links) == "我妈有X和X"


@pytest.mark.parametrize(("question", "surface", "intent"), [(WHY, "diabetes", "causes"),
                                                             (HOW_COME, "糖尿病", "causes"),
                                                             (WHICH_WARD, "糖尿病", "department")])
def test_an_unmatched_wording_is_read_as_its_intent(question: str, surface: str, intent: str) -> None:
    assert not [i for i in detect_intents(question) if i.name != "definition"]  # no cue knows it
    read = shared_intent_model("use-multilingual").detect(question, [_link(question, surface)])
    assert read is not None and read.name == intent and read.cue.startswith(READ_CUE)


def test_a_wording_near_no_exemplar_reads_as_no_intent() -> None:
    model = shared_intent_model("use-multilingual")
    strict = type(model)(model.embedder, model.exemplars, min_similarity=0.99)
    assert strict.detect(WHY, [_link(WHY, "diabetes")]) is None


def test_the_retriever_answers_the_read_intent_and_keeps_other_relations_in_the_prompt(
        default_retriever: KGRetriever) -> None:
    result = default_retriever.retrieve(WHICH_WARD, top_k=8)
    assert result.intents == ["department"]
    assert result.facts[0].relation == "department" and result.facts[0].head_name == "糖尿病"
    assert len({f.relation for f in result.facts}) >= 4  # spread as without an intent: it may be read wrongly


def test_a_retriever_without_the_intent_model_has_only_the_cues(default_store) -> None:  # type: ignore[no-untyped-def]
    plain = KGRetriever.load(default_store, intent_embedder=None)
    assert plain.intent_model is None
    assert plain.retrieve(WHICH_WARD, top_k=8).intents == []
