"""Entity linking over the real default store (built once per session, ~6 s), plus a tiny KG for
the mechanics (stop names, dense fallback, settings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgrag.errors import ConfigError
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.store import load_store
from kgrag.retrieval.intents import detect_intents
from kgrag.retrieval.linking import EntityLink, EntityLinker
from kgrag.retrieval.names import StopRules


@pytest.fixture(scope="session")
def linker(default_store: Path) -> EntityLinker:
    return EntityLinker.from_kg(load_store(default_store))


def ids(links: list[EntityLink]) -> list[str]:
    return [x.entity_id for x in links]


def surfaces(links: list[EntityLink]) -> set[str]:
    return {x.surface for x in links}


# -- the default store ---------------------------------------------------------------------------
def test_chinese_department_question(linker: EntityLinker) -> None:
    links = linker.link("糖尿病挂什么科")
    assert links[0] == EntityLink(linker.kg.index_of("cmekg:糖尿病"), "cmekg:糖尿病", "糖尿病", 0, 3, "exact", 1.0)
    assert ids(links) == ["cmekg:糖尿病"]
    assert [i.name for i in detect_intents("糖尿病挂什么科")] == ["department"]


def test_english_symptom_question_links_hypertension_in_several_sources(linker: EntityLinker) -> None:
    question = "what are the symptoms of hypertension"
    links = linker.link(question)
    assert surfaces(links) == {"hypertension"}
    assert {"hpo:HP:0000822", "cmekg:高血压"} <= set(ids(links))
    assert all(x.method == "exact" and x.confidence >= 0.95 for x in links)
    assert question[links[0].start : links[0].end] == "hypertension"
    assert "symptoms" in [i.name for i in detect_intents(question)]


def test_one_surface_keeps_candidates_from_every_source(linker: EntityLinker) -> None:
    links = linker.link("which department treats diabetes mellitus")
    assert {"cmekg:糖尿病", "mondo:MONDO:0005015", "hpo:HP:0000819"} <= set(ids(links))
    by_id = {x.entity_id: x for x in links}
    assert by_id["mondo:MONDO:0005015"].confidence == 1.0  # its name
    assert by_id["cmekg:糖尿病"].confidence == 0.95  # its English alias


@pytest.mark.parametrize(
    ("typo", "expected"),
    [("hypertention", "hpo:HP:0000822"), ("diabetis", "mondo:MONDO:0005015"), ("tuberculosys", "cmekg:结核病")],
)
def test_english_typos_link_by_fuzzy_with_less_confidence_than_exact(
    linker: EntityLinker, typo: str, expected: str
) -> None:
    links = linker.link(f"what are the symptoms of {typo}")
    assert expected in ids(links)
    assert {x.method for x in links} == {"fuzzy"} and surfaces(links) == {typo}
    assert max(x.confidence for x in links) < min(x.confidence for x in linker.link("hypertension"))


def test_chinese_typo_links_by_fuzzy(linker: EntityLinker) -> None:
    links = linker.link("糖屎病挂什么科")
    assert links[0].entity_id == "cmekg:糖尿病" and links[0].surface == "糖屎病"
    assert links[0].method == "fuzzy" and links[0].confidence < 0.95
    mixed = linker.link("我有高血鸭和糖尿病")  # a typo beside an exact mention
    assert [(x.entity_id, x.method) for x in mixed] == [("cmekg:高血压", "fuzzy"), ("cmekg:糖尿病", "exact")]


def test_traditional_chinese(linker: EntityLinker) -> None:
    question = "糖尿病人該掛什麼科？"
    links = linker.link(question)
    assert ids(links) == ["cmekg:糖尿病"]
    assert [i.name for i in detect_intents(question)] == ["department"]
    assert ids(linker.link("高血壓有什麼症狀")) == ["cmekg:高血压"]


def test_emoji_and_full_width_input(linker: EntityLinker) -> None:
    question = "😷請問👨\u200d👩\u200d👧糖尿病！！ＤＭ\u200b🇨🇳"
    links = linker.link(question)
    assert {"糖尿病", "ＤＭ"} <= surfaces(links)
    assert all(question[x.start : x.end] == x.surface for x in links)


@pytest.mark.parametrize(
    "question", ["今天天气怎么样", "what's the weather today", "hello, how are you?", "工作压力大，注意休息", "😀👍"]
)
def test_no_medical_entity_no_links(linker: EntityLinker, question: str) -> None:
    assert linker.link(question) == []


@pytest.mark.parametrize(
    ("question", "surface", "entity"),
    [
        ("Ⅱ型糖尿病吃什么药", "Ⅱ型糖尿病", "cmekg:II型糖尿病"),
        ("妊娠期糖尿病怎么办", "妊娠期糖尿病", "cmekg:妊娠期糖尿病"),
    ],
)
def test_overlapping_mentions_resolve_to_the_longer_one(
    linker: EntityLinker, question: str, surface: str, entity: str
) -> None:
    links = linker.link(question)
    assert surfaces(links) == {surface} and entity in ids(links)
    assert "cmekg:糖尿病" not in ids(links)


def test_short_english_names_match_whole_words_only(linker: EntityLinker) -> None:
    links = linker.link("what are the symptoms of MS")
    assert surfaces(links) == {"MS"}  # not the "ms" inside "symptoms"
    assert "cmekg:多发性硬化" in ids(links)
    assert linker.link("what are the symptoms") == []


def test_generic_names_and_acronyms_that_are_words_need_capitals(linker: EntityLinker) -> None:
    assert linker.link("what is all this") == []
    assert "mondo:MONDO:0004967" in ids(linker.link("prognosis of ALL"))  # acute lymphoblastic leukemia
    assert linker.link("I got a scan of my left arm, it was chronic") == []
    assert linker.link("CAN I GET A SCAN") == []  # a shouted question has no acronyms
    assert "cmekg:多发性硬化" in ids(linker.link("MS吗"))
    icd = linker.link("what is the ICD-10 code for migraine")
    assert surfaces(icd) == {"migraine"}  # "ICD" is a stop name even in capitals


def test_well_known_acronyms_match_in_any_case(linker: EntityLinker) -> None:
    assert "cmekg:慢性阻塞性肺疾病" in ids(linker.link("is copd contagious"))


def test_plural_forms(linker: EntityLinker) -> None:
    links = linker.link("how to treat migraines")
    assert surfaces(links) == {"migraines"} and "mondo:MONDO:0005277" in ids(links)


def test_links_are_ordered_by_position_and_point_into_the_question(linker: EntityLinker) -> None:
    question = "我妈妈有高血压和糖尿病，能吃阿司匹林吗"
    links = linker.link(question)
    assert [x.surface for x in links] == ["高血压", "糖尿病", "阿司匹林"]
    assert all(question[x.start : x.end] == x.surface and 0 < x.confidence <= 1 for x in links)


# -- mechanics, on the tiny KG ------------------------------------------------------------------
def test_tiny_kg_links_names_and_aliases(tiny_kg: KnowledgeGraph) -> None:
    linker = EntityLinker.from_kg(tiny_kg)
    assert ids(linker.link("高血压能吃阿司匹林吗")) == ["cmekg:高血压", "cmekg:阿司匹林"]
    assert set(ids(linker.link("Hypertension and aspirin"))) == {
        "cmekg:高血压",
        "mondo:MONDO:0005044",
        "cmekg:阿司匹林",
    }
    assert linker.link("any disease") == []  # MONDO's root "disease" is a stop name


def test_max_candidates_limits_each_mention(tiny_kg: KnowledgeGraph) -> None:
    linker = EntityLinker.from_kg(tiny_kg, max_candidates=1)
    assert len(linker.link("hypertension")) == 1
    with pytest.raises(ConfigError, match="max_candidates is 0"):
        EntityLinker.from_kg(tiny_kg, max_candidates=0)


def test_extra_stop_names(tiny_kg: KnowledgeGraph) -> None:
    linker = EntityLinker.from_kg(tiny_kg, StopRules(extra_stop_names=("头痛",)))
    assert linker.link("头痛") == []


def test_dense_fallback_is_asked_only_when_nothing_else_matched(tiny_kg: KnowledgeGraph) -> None:
    asked: list[tuple[str, int]] = []

    def dense(text: str, k: int) -> list[tuple[int, float]]:
        asked.append((text, k))
        return [(tiny_kg.index_of("cmekg:头痛"), 0.9)]

    linker = EntityLinker.from_kg(tiny_kg, dense=dense, dense_k=3)
    asked.clear()  # the build's warm-up question may have asked
    assert ids(linker.link("高血压")) == ["cmekg:高血压"] and asked == []
    [link] = linker.link("我的脑袋一阵阵地疼")
    assert asked == [("我的脑袋一阵阵地疼", 3)]
    assert (link.entity_id, link.method) == ("cmekg:头痛", "dense") and link.confidence < 0.9
