"""The dense path the service uses by default, end to end on a tiny real index (tests/conftest.py's
``tiny_index``: every entity and fact of the tiny store embedded with the multilingual USE): the
index is loaded and checked against its store, links a question that names no entity, and adds its
channel to the ranking."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kgrag.errors import IndexMismatchError
from kgrag.retrieval.ranking import RankingConfig
from kgrag.retrieval.retriever import KGRetriever

NO_NAME = "血糖很高，总是口渴，这是什么病？"  # names no entity: only the dense fallback can link it


@pytest.fixture(scope="module")
def dense(tiny_store: Path, tiny_index: Path) -> KGRetriever:
    return KGRetriever.load(tiny_store, tiny_index)


@pytest.fixture(scope="module")
def lexical(tiny_store: Path) -> KGRetriever:
    return KGRetriever.load(tiny_store)


def test_the_index_covers_the_whole_store(dense: KGRetriever) -> None:
    assert dense.index is not None and dense.embedder is not None
    assert len(dense.index.ids["entities"]) == dense.kg.n_entities
    assert len(dense.index.ids["facts"]) == dense.kg.n_facts - int(dense.kg.link_mask()[
        dense.kg.fact_relation_codes()].sum())


def test_a_question_naming_no_entity_is_linked_by_meaning(dense: KGRetriever, lexical: KGRetriever) -> None:
    assert lexical.retrieve(NO_NAME).facts == []  # without the index: an explicit empty result
    result = dense.retrieve(NO_NAME, top_k=5)
    assert result.entities[0].entity_id == "cmekg:糖尿病" and result.entities[0].method == "dense"
    assert 0 < result.entities[0].confidence < 1
    assert any(f.head_name == "糖尿病" for f in result.facts)


def test_an_english_question_reaches_an_english_entity_by_meaning(dense: KGRetriever) -> None:
    result = dense.retrieve("I keep having fits and convulsions", top_k=5)
    assert {e.method for e in result.entities} == {"dense"}
    assert "hpo:HP:0001250" in [e.entity_id for e in result.entities]  # Seizure


@pytest.mark.parametrize(("question", "relation"), [("糖尿病挂什么科？", "department"),
                                                    ("阿司匹林有什么不良反应？", "side_effect"),
                                                    ("糖尿病有哪些症状？", "has_symptom")])
def test_the_dense_channel_alone_ranks_the_fact_the_question_means(tiny_store: Path, tiny_index: Path,
                                                                    question: str, relation: str) -> None:
    only_dense = KGRetriever.load(tiny_store, tiny_index, ranking=RankingConfig.parse("structure=0,lexical=0"))
    assert only_dense.retrieve(question, top_k=3).facts[0].relation == relation


def test_the_dense_channel_adds_to_the_fused_scores(dense: KGRetriever, lexical: KGRetriever) -> None:
    question = "糖尿病有哪些症状？"
    with_index = {(f.head_name, f.relation, f.tail_text): f.score for f in dense.retrieve(question).facts}
    without = {(f.head_name, f.relation, f.tail_text): f.score for f in lexical.retrieve(question).facts}
    shared = with_index.keys() & without.keys()
    assert shared and all(with_index[k] > without[k] for k in shared)


def test_an_index_of_another_store_is_refused_with_the_fix(tiny_index: Path, tmp_path: Path) -> None:
    from kgrag.kg.importer import import_sources

    other = tmp_path / "other"
    import_sources([f"cmekg={Path(__file__).parents[1] / 'kg' / 'data' / 'cmekg' / 'mini.jsonl'}"], other)
    copy = tmp_path / "index"
    shutil.copytree(tiny_index, copy)
    with pytest.raises(IndexMismatchError, match="build-index"):
        KGRetriever.load(other, copy)
