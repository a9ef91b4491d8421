"""An entity's neighbourhood as a small graph to draw: entities (and literal values) as nodes,
facts as labelled edges, each edge with its source and provenance.

Example:
    >>> g = neighbourhood(kg, kg.find("糖尿病")[0], limit=20, lang="zh")
    >>> [e.label for e in g.edges][:2]
    ['常见症状', '常见症状']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kgrag.errors import ConfigError
from kgrag.kg.graph import KnowledgeGraph
from kgrag.lang import LANGS

MAX_LIMIT = 200
VALUE_CHARS = 60  # a literal value's node label is cut here (the edge keeps the fact row)


@dataclass(frozen=True, slots=True)
class Node:
    """An entity (``id`` is its KG id) or a literal value (``id`` is ``value:<fact row>``)."""

    id: str
    label: str
    kind: str  # "entity" or "value"
    source: str  # the KG source of the entity, or of the fact that holds the value


@dataclass(frozen=True, slots=True)
class Edge:
    """One fact, from its head node to its tail node."""

    id: str  # "f<fact row>"
    fact: int
    source: str  # the head node's id
    target: str  # the tail node's id
    relation: str
    label: str  # the relation in the requested language
    kg_source: str
    provenance: str
    link: bool  # a cross-source link (same concept in two sources)


@dataclass(frozen=True, slots=True)
class Subgraph:
    center: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    facts_total: int  # the entity's facts in all, shown or not

    def to_dict(self) -> dict[str, Any]:
        return {"center": self.center, "nodes": [asdict(n) for n in self.nodes],
                "edges": [asdict(e) for e in self.edges], "facts_total": self.facts_total}


def neighbourhood(kg: KnowledgeGraph, row: int, *, limit: int = 40, lang: str = "en") -> Subgraph:
    """The entity at ``row`` with up to ``limit`` of its facts: its own facts first, then facts that
    point at it, then its cross-source links.

    Raises:
        ConfigError: ``limit`` outside 1..MAX_LIMIT or ``lang`` not one of LANGS.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ConfigError(f"limit must be between 1 and {MAX_LIMIT}; got {limit}")
    if lang not in LANGS:
        raise ConfigError(f"lang must be one of {', '.join(LANGS)}; got {lang!r}")
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []

    def entity(i: int) -> str:
        eid = kg.entity_id(i)
        nodes.setdefault(eid, Node(eid, kg.entity_name(i), "entity", kg.entity_source(i)))
        return eid

    def add(j: int) -> None:
        fact = kg.fact(j)
        head, tail = entity(kg.fact_head(j)), kg.fact_tail(j)
        if tail >= 0:
            target = entity(tail)
        else:
            target = f"value:{j}"
            text = kg.fact_tail_text(j)
            text = text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"
            nodes[target] = Node(target, text, "value", fact.source)
        rel = kg.vocab.get(fact.relation)
        edges.append(Edge(f"f{j}", j, head, target, fact.relation, rel.zh if lang == "zh" else rel.en, fact.source,
                          str(fact.provenance), kg.is_link_fact(j)))

    entity(row)
    out = [int(j) for j in kg.out_facts(row) if not kg.is_link_fact(int(j))]
    incoming = [int(j) for j in kg.in_facts(row) if not kg.is_link_fact(int(j))]
    links = [j for j, _ in kg.links_of(row)]
    for j in (out + incoming + links)[:limit]:
        add(j)
    return Subgraph(kg.entity_id(row), tuple(nodes.values()), tuple(edges), len(out) + len(incoming) + len(links))
