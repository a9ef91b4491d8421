"""Question generation on the real default store: deterministic, split by entity, gold facts real."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from kgrag.errors import ConfigError
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.store import load_store
from kgrag.kgqa.questions import (
    LANGS,
    STYLES,
    EvalQuestion,
    QuestionGenerator,
    hash_split,
    is_pinyin,
    load_templates,
    parse_templates,
)

_CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture(scope="module")
def kg(default_store: Path) -> KnowledgeGraph:
    return load_store(default_store)


@pytest.fixture(scope="module")
def generator(kg: KnowledgeGraph) -> QuestionGenerator:
    return QuestionGenerator(kg)


@pytest.fixture(scope="module")
def questions(generator: QuestionGenerator) -> list[EvalQuestion]:
    return generator.generate(80, split="all", seed=0)


def test_generation_is_deterministic(kg: KnowledgeGraph, questions: list[EvalQuestion]) -> None:
    again = QuestionGenerator(kg).generate(80, split="all", seed=0)
    assert again == questions
    other = QuestionGenerator(kg).generate(80, split="all", seed=1)
    assert [q.qid for q in other] != [q.qid for q in questions]


def test_n_per_language_spread_over_relations_and_styles(
    generator: QuestionGenerator, questions: list[EvalQuestion]
) -> None:
    for lang in LANGS:
        mine = [q for q in questions if q.lang == lang]
        assert len(mine) == 80
        styles = Counter(q.style for q in mine)
        assert abs(styles["template"] - styles["colloquial"]) <= len({q.relation for q in mine})
        relations = Counter(q.relation for q in mine)
        assert set(relations) == {t.relation for t in generator.templates if t.lang == lang}
        assert max(relations.values()) - min(relations.values()) <= 1


def test_splits_are_disjoint_by_head_and_twins(generator: QuestionGenerator) -> None:
    dev = generator.generate(60, split="dev", seed=0)
    test = generator.generate(60, split="test", seed=0)
    assert {q.split for q in dev} == {"dev"} and {q.split for q in test} == {"test"}
    dev_entities = {e for q in dev for e in (q.head, *q.twins)}
    assert dev_entities.isdisjoint(q.head for q in test)
    assert dev_entities.isdisjoint(t for q in test for t in q.twins)


def test_gold_facts_exist_and_match_the_relation(kg: KnowledgeGraph, questions: list[EvalQuestion]) -> None:
    rels = kg.tables.relations
    for q in questions:
        assert q.gold, q.qid
        gold_tails = set()
        for j in q.gold:
            assert kg.entity_id(int(kg.arrays["f_head"][j])) == q.head
            assert rels[int(kg.arrays["f_rel"][j])] == q.relation
            gold_tails.add(kg.fact_tail_text(j).casefold())
        assert set(q.gold) <= set(q.accepted)
        head = kg.index_of(q.head)
        coded = {kg.entity_id(t) for link, t in kg.links_of(head)
                 if rels[int(kg.arrays["f_rel"][link])] == "same_icd10_code"}
        for j in set(q.accepted) - set(q.gold):
            rel, owner = rels[int(kg.arrays["f_rel"][j])], kg.entity_id(int(kg.arrays["f_head"][j]))
            if q.relation == "is_a" and rel == "definition":  # the source's definition of the head or a twin
                assert owner in (q.head, *q.twins)
            elif q.relation == "icd10" and owner in coded:  # the code of the ICD-10-CM entity of the same code
                assert rel == "icd10"
            else:  # the same answer through a cross-source twin
                assert rel == q.relation and owner in q.twins
                assert kg.fact_tail_text(j).casefold() in gold_tails


def test_questions_name_the_head_in_the_right_language(kg: KnowledgeGraph, questions: list[EvalQuestion]) -> None:
    for q in questions:
        assert q.head_name in q.text
        assert bool(_CJK.search(q.head_name)) == (q.lang == "zh")
        row = kg.index_of(q.head)
        # a name or alias of the head, or one part of an English alias CMeKG joins with "；"
        names = {kg.entity_name(row), *(p.strip() for a in kg.aliases(row) for p in re.split("[;；]", a))}
        assert q.head_name in names
    assert any(q.lang == "en" and q.head.startswith("cmekg:") for q in questions)  # cross-lingual


def test_at_most_two_questions_per_head(questions: list[EvalQuestion]) -> None:
    assert max(Counter((q.lang, q.head) for q in questions).values()) <= 2
    assert len({q.qid for q in questions}) == len(questions)


def test_hash_split_is_stable_and_near_the_fraction() -> None:
    assert hash_split("cmekg:糖尿病") == hash_split("cmekg:糖尿病")
    share = sum(hash_split(f"e{i}") == "dev" for i in range(10_000)) / 10_000
    assert 0.18 < share < 0.22
    assert {hash_split(f"e{i}", split_seed=1) for i in range(50)} == {"dev", "test"}


def test_pinyin_names_are_recognized() -> None:
    assert is_pinyin("Liu wei Di huang Wan") and is_pinyin("Kang'aiping Wan")
    assert not is_pinyin("Heparin Sodium Buccal Tablets") and not is_pinyin("diabetes mellitus")


def test_packaged_templates_cover_both_styles_per_relation() -> None:
    templates = load_templates()
    keys = Counter((t.relation, t.lang, t.style) for t in templates)
    for relation, lang in {(t.relation, t.lang) for t in templates}:
        assert all(keys[(relation, lang, style)] >= 2 for style in STYLES), (relation, lang)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("x\tno_such_relation\tzh\ttemplate\t{X}是什么", "unknown relation 'no_such_relation'"),
        ("x\tis_a\tfr\ttemplate\t{X}?", "lang must be one of"),
        ("x\tis_a\ten\ttemplate\twhat is it?", "must occur exactly once"),
        ("x\tis_a\ten", "expected 5 tab-separated fields"),
    ],
)
def test_bad_template_rows_are_refused_with_their_line(row: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"t\.tsv:2: .*{re.escape(message)}"):
        parse_templates(f"# header\n{row}\n", "t.tsv")


def test_bad_arguments_are_refused(generator: QuestionGenerator) -> None:
    with pytest.raises(ConfigError, match="unknown split 'train'"):
        generator.generate(5, split="train")
    with pytest.raises(ConfigError, match="unknown language 'fr'"):
        generator.generate(5, langs=["fr"])
