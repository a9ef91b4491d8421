"""KG-QA interaction records: "Can I take X with Y?" answered from the thesaurus fact joining the
two drugs, named in the question's language through their links, with the severity translated
(issue 16, point 4). A small store built with the real loaders and the real ANSM thesaurus."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.links import add_links
from kgrag.kg.loaders.cmekg import CMeKGLoader
from kgrag.kg.loaders.ddi import DDILoader
from kgrag.kg.loaders.drugs import DrugsLoader
from kgrag.kgqa.dataset_formats import QARecord
from kgrag.kgqa.entities import EntityNames
from kgrag.kgqa.interactions import interaction_records, severities

DATA = Path(__file__).parents[1] / "kg" / "data"


@pytest.fixture(scope="module")
def kg() -> KnowledgeGraph:
    builder = KGBuilder()
    CMeKGLoader(DATA / "cmekg" / "interactions_mini.jsonl").load(builder)
    DrugsLoader().load(builder)
    DDILoader().load(builder)
    add_links(builder)
    return builder.build()


@pytest.fixture(scope="module")
def records(kg: KnowledgeGraph) -> list[QARecord]:
    return interaction_records(EntityNames(kg), seed=0)


def test_each_record_is_the_interaction_fact_of_its_two_drugs(kg: KnowledgeGraph, records: list[QARecord]) -> None:
    assert len(records) > 100
    for r in records[:200]:
        [j] = r.facts
        fact = kg.fact(j)
        assert fact.relation == "interacts_with" and fact.head == r.head
        assert r.head_name in r.question and r.head_name in r.answer
        assert "pharmacist" in r.answer or "药师" in r.answer  # never "safe"
        assert "safe to" not in r.answer


def test_drugs_are_named_in_the_question_language_not_in_french(records: list[QARecord]) -> None:
    english = [r.question for r in records if r.lang == "en"]
    assert english and not any("acide" in q.lower() or "é" in q for q in english)
    # the thesaurus' "acide acétylsalicylique" is asked about as Aspirin
    assert "Is it safe to take Aspirin and Methotrexate together?" in english


def test_severity_levels_are_translated_strongest_first() -> None:
    q = ("severity: contraindicated / 禁止合用, take into account / 需注意 (by dose or situation) "
         "[ANSM: contre-indication, à prendre en compte]; mechanism (ANSM, in French): x")
    assert severities(q, "en") == "contraindicated, take into account"
    assert severities(q, "zh") == "禁止合用、需注意"
    assert severities("no severity here", "en") is None
