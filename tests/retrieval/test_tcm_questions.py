"""Herb questions on a small store built with the real loaders: CMeKG's 黄芩 (a few facts) and
herbiv's herb rows (the ``tcm_archive`` fixture), linked by Chinese name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kgrag.kg.builder import KGBuilder
from kgrag.kg.links import add_links
from kgrag.kg.loaders.cmekg import CMeKGLoader
from kgrag.kg.loaders.tcm import TCMLoader
from kgrag.retrieval.linking import EntityLinker
from kgrag.retrieval.retriever import KGRetriever

DATA = Path(__file__).parents[1] / "kg" / "data"


@pytest.fixture()
def retriever(tcm_archive: Callable[..., tuple[Path, str]], tmp_path: Path) -> KGRetriever:
    archive, digest = tcm_archive(tmp_path)
    builder = KGBuilder()
    CMeKGLoader(DATA / "cmekg" / "herbs_mini.jsonl").load(builder)
    TCMLoader(archive, digest).load(builder)
    add_links(builder)
    kg = builder.build()
    return KGRetriever(kg, EntityLinker.from_kg(kg))


@pytest.mark.parametrize(
    ("question", "relation"),
    [
        ("黄芩的功效是什么？", "tcm_function"),
        ("What is Huang Qin used for?", "tcm_indication"),
        ("黄芩归什么经", "tcm_meridian"),
        ("what meridians does huang qin enter", "tcm_meridian"),
    ],
)
def test_a_herb_question_reaches_the_english_tcm_facts(retriever: KGRetriever, question: str, relation: str) -> None:
    """In the top three: CMeKG's own facts on 黄芩 (its 性味, an alias) compete on this tiny store."""
    facts = retriever.retrieve(question, top_k=5).facts
    [fact] = [f for f in facts[:3] if f.relation == relation]
    assert fact.head == "tcm:HVM1695" and "herbiv-0.1a6.tar.gz" in fact.provenance
