"""same_drug_substance links: ANSM substances to the drug dictionary and to CMeKG ingredients."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.links import add_links
from kgrag.kg.loaders.cmekg import CMeKGLoader
from kgrag.kg.loaders.ddi import DDILoader
from kgrag.kg.loaders.drugs import DrugsLoader

DATA = Path(__file__).parent / "data"
CHECK = Path(__file__).resolve().parents[2] / "kg" / "ddi_link_check.tsv"


@pytest.fixture(scope="module")
def kg() -> KnowledgeGraph:
    """The real drug dictionary and thesaurus, and a few CMeKG products (tests/kg/data/cmekg)."""
    builder = KGBuilder()
    CMeKGLoader(DATA / "cmekg" / "interactions_mini.jsonl").load(builder)
    DrugsLoader().load(builder)
    DDILoader().load(builder)
    add_links(builder)
    return builder.build()


def substance_links(kg: KnowledgeGraph, ddi_id: str) -> dict[str, str]:
    """Linked entity id → the link's qualifier (method and confidence)."""
    row = kg.index_of(ddi_id)
    return {kg.entity_id(other): kg.fact(j).qualifier or "" for j, other in kg.links_of(row)
            if kg.fact_relation(j) == "same_drug_substance"}


def test_a_french_inn_links_to_the_english_drug_and_says_which_rule_made_it(kg: KnowledgeGraph) -> None:
    assert substance_links(kg, "ddi:warfarine")["drugs:DB00682"] == "method=-ine→-in; confidence=0.95"
    assert substance_links(kg, "ddi:amiodarone")["drugs:DB01118"] == "method=exact; confidence=0.97"


def test_a_cmekg_ingredient_links_through_the_english_name_of_its_product(kg: KnowledgeGraph) -> None:
    """华法林钠片 "Warfarin Sodium Tablets" has the ingredient 华法林钠: 华法林 is warfarin."""
    links = substance_links(kg, "ddi:warfarine")
    assert links["cmekg:华法林"].startswith("method=-ine→-in; cmekg product")
    assert "cmekg:华法林钠" not in links  # the salt is its own entity; warfarin names the base
    row = kg.index_of("ddi:warfarine")
    evidence = [kg.fact(j).provenance.key for j, other in kg.links_of(row) if kg.entity_id(other) == "cmekg:华法林"]
    assert evidence == ["INN 'warfarine' → 'warfarin' (-ine→-in); CMeKG product 华法林钠片 = 'Warfarin Sodium "
                        "Tablets', ingredient 华法林钠 less 钠"]


def test_an_inn_the_products_do_not_name_reaches_cmekg_through_the_linked_drug(kg: KnowledgeGraph) -> None:
    """acide acétylsalicylique → (acetylsalicylic acid) → Aspirin → 阿司匹林肠溶片 "Aspirin …" → 阿司匹林."""
    assert substance_links(kg, "ddi:acide acetylsalicylique")["cmekg:阿司匹林"] == "method=via drugs; confidence=0.85"


def test_a_product_that_only_contains_the_ingredient_name_does_not_name_it(kg: KnowledgeGraph) -> None:
    """依诺肝素钠注射液 (enoxaparin) lists 肝素钠 (heparin sodium) as its ingredient."""
    assert not [e for e in substance_links(kg, "ddi:enoxaparine") if e.startswith("cmekg:")]
    assert "cmekg:肝素钠" in substance_links(kg, "ddi:heparine sodique")


def test_french_names_take_no_part_in_english_name_links(kg: KnowledgeGraph) -> None:
    row = kg.index_of("ddi:amiodarone")
    assert {kg.fact_relation(j) for j, _ in kg.links_of(row)} == {"same_drug_substance"}


def test_the_hand_check_covers_200_links_per_kind_with_precision_of_at_least_095() -> None:
    with CHECK.open(encoding="utf-8") as f:
        rows = [r for r in csv.reader((line for line in f if not line.startswith("#")), delimiter="\t")]
    assert {r[6] for r in rows} == {"correct", "incorrect"}
    per_kind = Counter(r[0] for r in rows)
    correct = Counter(r[0] for r in rows if r[6] == "correct")
    assert set(per_kind) == {"ddi->drugs", "ddi->cmekg"}
    for kind, n in per_kind.items():
        assert n >= 200 and correct[kind] / n >= 0.95, (kind, correct[kind], n)
