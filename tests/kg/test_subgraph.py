"""An entity's neighbourhood as a graph to draw: its facts as labelled edges to entity and value
nodes, facts pointing at it and its cross-source links, each edge with its provenance."""

from __future__ import annotations

import pytest

from kgrag.errors import ConfigError
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.subgraph import MAX_LIMIT, neighbourhood


def test_an_entitys_facts_become_labelled_edges_from_it(tiny_kg: KnowledgeGraph) -> None:
    g = neighbourhood(tiny_kg, tiny_kg.find("cmekg:糖尿病")[0], lang="zh")
    assert g.center == "cmekg:糖尿病"
    by_label = {(e.label, next(n.label for n in g.nodes if n.id == e.target)) for e in g.edges if not e.link}
    assert {("常见症状", "多尿"), ("常见症状", "多饮"), ("就诊科室", "内分泌科"), ("并发症", "高血压")} <= by_label
    symptom = next(e for e in g.edges if e.relation == "has_symptom")
    assert symptom.source == "cmekg:糖尿病" and symptom.kg_source == "cmekg" and "mini.jsonl:1" in symptom.provenance


def test_literal_values_are_value_nodes_and_entities_appear_once(tiny_kg: KnowledgeGraph) -> None:
    g = neighbourhood(tiny_kg, tiny_kg.find("cmekg:糖尿病")[0])
    values = [n for n in g.nodes if n.kind == "value"]
    assert {"diabetes mellitus", "DM"} <= {n.label for n in values}
    assert all(n.id.startswith("value:") for n in values)
    assert len({n.id for n in g.nodes}) == len(g.nodes)
    assert {e.source for e in g.edges} | {e.target for e in g.edges} <= {n.id for n in g.nodes}


def test_facts_pointing_at_it_and_its_links_are_drawn_too(tiny_kg: KnowledgeGraph) -> None:
    g = neighbourhood(tiny_kg, tiny_kg.find("cmekg:高血压")[0], lang="en")
    assert any(e.source == "cmekg:糖尿病" and e.target == "cmekg:高血压" for e in g.edges)  # 糖尿病 —complication→
    diabetes = neighbourhood(tiny_kg, tiny_kg.find("cmekg:糖尿病")[0])
    assert any(e.link for e in diabetes.edges), "the ICD-10 / English-name links to the English sources"
    assert all(e.label for e in diabetes.edges)


def test_limit_caps_the_edges_and_facts_total_counts_all(tiny_kg: KnowledgeGraph) -> None:
    row = tiny_kg.find("cmekg:糖尿病")[0]
    full, two = neighbourhood(tiny_kg, row), neighbourhood(tiny_kg, row, limit=2)
    assert len(two.edges) == 2 and two.facts_total == full.facts_total >= len(full.edges) > 2


@pytest.mark.parametrize(("kw", "message"), [({"limit": 0}, "limit must be between 1"),
                                             ({"limit": MAX_LIMIT + 1}, "limit must be between 1"),
                                             ({"lang": "fr"}, "lang must be one of zh, en")])
def test_bad_options_are_refused_with_the_valid_ones(tiny_kg: KnowledgeGraph, kw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        neighbourhood(tiny_kg, 0, **kw)
