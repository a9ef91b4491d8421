"""MONDO loader: the zstd-compressed term JSON of cellxgene-ontology-guide."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import zstandard

from kgrag.errors import EntityNotFoundError, KGLoadError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.loaders.mondo import MONDOLoader

EXCERPT = Path(__file__).parent / "data" / "mondo" / "mondo-excerpt.json"


def compress(data: bytes, path: Path) -> Path:
    path.write_bytes(zstandard.ZstdCompressor().compress(data))
    return path


def load(path: Path) -> KnowledgeGraph:
    builder = KGBuilder()
    MONDOLoader(path=path).load(builder)
    return builder.build()


@pytest.fixture()
def excerpt_zst(tmp_path: Path) -> Path:
    """The JSON excerpt compressed the way the package ships it."""
    return compress(EXCERPT.read_bytes(), tmp_path / "MONDO-ontology-v2026-05-05.json.zst")


@pytest.fixture()
def kg(excerpt_zst: Path) -> KnowledgeGraph:
    return load(excerpt_zst)


def test_a_term_becomes_a_disease_entity(kg: KnowledgeGraph) -> None:
    e = kg.entity(kg.index_of("mondo:MONDO:0005015"))
    assert (e.name, e.lang, e.source, e.types) == ("diabetes mellitus", "en", "mondo", ("disease",))
    assert e.aliases == ("DM", "diabetes", "diabetes mellitus (disease)")  # the label itself is not repeated
    assert e.description.startswith("A metabolic disorder characterized by abnormally high blood sugar")
    assert e.xrefs == ("MONDO:0005015",)


def test_a_term_without_synonyms_or_description_still_loads(kg: KnowledgeGraph) -> None:
    e = kg.entity(kg.index_of("mondo:MONDO:0978299"))
    assert (e.name, e.aliases, e.description) == ("maturity-onset diabetes of the young, type 12", (), "")


def test_only_direct_parents_become_is_a_facts(kg: KnowledgeGraph) -> None:
    t2dm = [f for f in kg.facts_of(kg.index_of("mondo:MONDO:0005148")) if f.relation != "definition"]
    assert [(f.relation, f.tail) for f in t2dm] == [("is_a", "mondo:MONDO:0005015")]  # distances 2 and 3 skipped
    dm = {f.tail for f in kg.facts_of(kg.index_of("mondo:MONDO:0005015")) if f.relation == "is_a"}
    assert dm == {"mondo:MONDO:0001933", "mondo:MONDO:0002908"}


def test_is_a_provenance_is_the_term_ordinal_and_id(kg: KnowledgeGraph, excerpt_zst: Path) -> None:
    fact = next(kg.facts_of(kg.index_of("mondo:MONDO:0005148")))
    assert (fact.provenance.file, fact.provenance.line, fact.provenance.key) == (str(excerpt_zst), 2, "MONDO:0005148")


def test_a_parent_defined_later_in_the_file_is_filled_in_not_a_stub(kg: KnowledgeGraph) -> None:
    assert kg.entity(kg.index_of("mondo:MONDO:0005015")).description  # referenced by term 2, defined as term 3


def test_a_parent_absent_from_the_file_is_a_stub_named_by_its_id(kg: KnowledgeGraph) -> None:
    stub = kg.entity(kg.index_of("mondo:MONDO:0001933"))
    assert (stub.name, stub.description, stub.types) == ("MONDO:0001933", "", ("disease",))


def test_deprecated_terms_are_skipped(kg: KnowledgeGraph) -> None:
    with pytest.raises(EntityNotFoundError):
        kg.index_of("mondo:MONDO:0001344")
    # 5 is_a facts and the definitions of the 4 live terms that have one
    assert kg.stats()["mondo"] == {"entities": 5 + 1, "facts": 5 + 4, "literal_facts": 4, "entity_facts": 5}


def test_terms_are_found_by_synonym(kg: KnowledgeGraph) -> None:
    assert kg.entity_id(kg.find("T2DM")[0]) == "mondo:MONDO:0005148"


def test_a_folder_holding_the_file_is_accepted(excerpt_zst: Path) -> None:
    assert load(excerpt_zst.parent).n_entities == 6


# -- bad input -------------------------------------------------------------------------------
def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    broken = EXCERPT.read_text(encoding="utf-8").replace(
        '"label": "diabetes mellitus",', '"label": "diabetes mellitus"'
    )
    path = compress(broken.encode(), tmp_path / "mondo.json.zst")
    with pytest.raises(KGLoadError, match="malformed JSON") as err:
        load(path)
    assert (err.value.path, err.value.line) == (str(path), 4)


def test_a_term_without_a_label_names_file_and_term(tmp_path: Path) -> None:
    terms = json.loads(EXCERPT.read_text(encoding="utf-8"))
    del terms["MONDO:0002908"]["label"]
    path = compress(json.dumps(terms).encode(), tmp_path / "mondo.json.zst")
    with pytest.raises(KGLoadError, match="term MONDO:0002908: expected a 'label' string") as err:
        load(path)
    assert (err.value.path, err.value.line) == (str(path), 4)


def test_an_invalid_utf8_byte_names_file_and_line(tmp_path: Path) -> None:
    raw = EXCERPT.read_bytes().replace(b"glucose metabolism disease", b"glucose metabolism \xff disease")
    path = compress(raw, tmp_path / "mondo.json.zst")
    with pytest.raises(KGLoadError, match="not valid utf-8") as err:
        load(path)
    assert err.value.line == 5


def test_a_file_that_is_not_zstd_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mondo.json.zst"
    path.write_bytes(EXCERPT.read_bytes())
    with pytest.raises(KGLoadError, match="zstd") as err:
        load(path)
    assert err.value.path == str(path)


# -- the real package data -------------------------------------------------------------------
@pytest.mark.slow
def test_the_real_mondo_file_loads_completely() -> None:
    # Counted independently by decompressing the file and walking the dict: 31,958 terms, 3,968
    # deprecated, 19,315 of the 27,990 live terms with a description, 41,908 ancestors at
    # distance 1 among live terms, every one of them a live term.
    builder = KGBuilder()
    t0 = time.perf_counter()
    MONDOLoader().load(builder)
    seconds = time.perf_counter() - t0
    kg = builder.build()
    print(f"MONDO loaded in {seconds:.1f} s")
    assert kg.stats()["mondo"] == {"entities": 27_990, "facts": 41_908 + 19_315, "literal_facts": 19_315,
                                   "entity_facts": 41_908}
    assert kg.relation_counts() == {"is_a": 41_908, "definition": 19_315}
    assert sum(1 for i in range(kg.n_entities) if kg.columns["ent_desc"][i]) == 19_315
    dm = kg.entity(kg.index_of("mondo:MONDO:0005015"))
    assert dm.name == "diabetes mellitus" and "DM" in dm.aliases
    assert kg.tables.files == [
        "cellxgene-ontology-guide==1.11.1:cellxgene_ontology_guide/data/MONDO-ontology-v2026-05-05.json.zst"
    ]


def test_the_description_is_also_a_definition_fact_with_provenance(kg: KnowledgeGraph, excerpt_zst: Path) -> None:
    [fact] = [f for f in kg.facts_of(kg.index_of("mondo:MONDO:0005015")) if f.relation == "definition"]
    assert fact.value is not None
    assert fact.value.startswith("A metabolic disorder characterized by abnormally high blood sugar")
    assert (fact.provenance.file, fact.provenance.key) == (str(excerpt_zst), "MONDO:0005015")
    e = kg.entity(kg.index_of("mondo:MONDO:0978299"))  # no description, so no definition fact
    assert [f for f in kg.facts_of(kg.index_of(e.id)) if f.relation == "definition"] == []
