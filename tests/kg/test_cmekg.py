"""CMeKG loader: triples files, the package pickle (safely), descriptions, bad input."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from kgrag.errors import KGLoadError, UnsafeFormatError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.loaders.cmekg import CMeKGLoader, compose_description, iter_package_triples
from kgrag.kg.relations import cmekg_predicates, vocabulary

DATA = Path(__file__).parent / "data" / "cmekg"


def load(path: Path):
    b = KGBuilder()
    CMeKGLoader(path).load(b)
    return b.build()


def test_every_predicate_maps_to_a_labelled_relation() -> None:
    table = cmekg_predicates()
    vocab = vocabulary()
    assert len(table) == 469
    for p in table.values():
        rel = vocab.get(p.relation)
        assert rel.zh and rel.en and rel.en.isascii()
        assert rel.kind == p.kind


def test_entity_objects_become_nodes_and_literals_stay_values() -> None:
    kg = load(DATA / "mini.jsonl")
    dm = kg.find("糖尿病")[0]
    facts = list(kg.facts_of(dm))
    symptoms = {f.tail for f in facts if f.relation == "has_symptom"}
    assert symptoms == {"cmekg:多尿", "cmekg:多饮"}
    assert {f.value for f in facts if f.relation == "icd10"} == {"E11.900"}
    assert kg.entity(kg.index_of("cmekg:多尿")).types == ("症状",)


def test_each_fact_keeps_its_file_and_line() -> None:
    kg = load(DATA / "mini.jsonl")
    f = next(f for f in kg.facts_of(kg.find("阿司匹林")[0]) if f.relation == "dosage")
    assert f.provenance.file.endswith("mini.jsonl") and f.provenance.line == 13
    assert f.source == "cmekg"


def test_names_xrefs_and_composed_chinese_description() -> None:
    kg = load(DATA / "mini.jsonl")
    e = kg.entity(kg.find("diabetes mellitus")[0])
    assert e.id == "cmekg:糖尿病"
    assert "DM" in e.aliases and "ICD10:E11.900" in e.xrefs
    assert e.types == ("疾病",)
    assert e.description.startswith("糖尿病（疾病）。")
    assert "就诊科室：内分泌科。" in e.description


def test_several_relations_between_one_pair_all_survive_in_networkx() -> None:
    kg = load(DATA / "mini.jsonl")
    g = kg.to_networkx()
    rels = sorted(d["relation"] for d in g.get_edge_data("cmekg:糖尿病", "cmekg:高血压").values())
    assert rels == ["complication", "related_disease"]


def test_unknown_predicate_is_kept_not_dropped() -> None:
    kg = load(DATA / "mini.jsonl")
    f = next(f for f in kg.facts_of(kg.find("阿司匹林")[0]) if f.relation == "cmekg_attribute")
    assert f.value == "某个值" and f.qualifier == "新出现的属性"


def test_compose_description_is_bounded() -> None:
    text = compose_description("X", "疾病", {"has_symptom": [f"症状{i}" for i in range(100)], "dosage": ["很长" * 200]})
    assert len(text) <= 500 and "症状7" in text and "症状8" not in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"subject": "a", "predicate": "常见症状"}\n', "object"),
        ('{"subject": "a", "predicate": "常见症状", "object": "b"\n', "not valid JSON"),
        ("[1, 2]\n", "JSON object"),
    ],
)
def test_bad_jsonl_line_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    p = tmp_path / "dump.jsonl"
    p.write_text('{"subject": "a", "predicate": "常见症状", "object": "b"}\n' + content, encoding="utf-8")
    with pytest.raises(KGLoadError) as err:
        load(p)
    assert f"{p}:2" in str(err.value) and message in str(err.value)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "dump.jsonl"
    p.write_bytes(b'{"subject": "a", "predicate": "x", "object": "b"}\n{"subject": "\xff"}\n')
    with pytest.raises(KGLoadError, match=r"dump.jsonl:2: not valid utf-8"):
        load(p)


def test_csv_needs_its_header(tmp_path: Path) -> None:
    p = tmp_path / "dump.csv"
    p.write_text("s,p,o\n糖尿病,常见症状,多尿\n", encoding="utf-8")
    with pytest.raises(KGLoadError, match=r"dump.csv:1: expected header"):
        load(p)
    p.write_text("subject,predicate,object\n糖尿病,常见症状,多尿\n糖尿病,常见症状\n", encoding="utf-8")
    with pytest.raises(KGLoadError, match=r"dump.csv:3: expected 3 non-empty columns"):
        load(p)


def test_a_pickle_from_anywhere_else_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "cmekg.pkl"
    p.write_bytes(pickle.dumps({"a": {"b": ["c"]}}))
    with pytest.raises(UnsafeFormatError, match="refusing"):
        load(p)
    with pytest.raises(UnsafeFormatError, match="refusing to unpickle"):
        list(iter_package_triples(p))


@pytest.mark.slow
def test_the_packaged_cmekg_loads_completely() -> None:
    subjects, predicates, n = set(), set(), 0
    for _, s, p, _o, _k in iter_package_triples():
        subjects.add(s)
        predicates.add(p)
        n += 1
    assert (len(subjects), n, len(predicates)) == (27_403, 967_409, 469)
    b = KGBuilder()
    CMeKGLoader().load(b)
    kg = b.build()
    assert kg.stats()["cmekg"]["facts"] == 967_409
    assert all(p in cmekg_predicates() for p in predicates)


def test_english_names_joined_in_one_value_become_separate_aliases() -> None:
    kg = load(DATA / "mini.jsonl")
    e = kg.entity(kg.find("angiocholitis")[0])
    assert e.id == "cmekg:胆管炎" and {"cholangitis", "angiocholitis"} <= set(e.aliases)
