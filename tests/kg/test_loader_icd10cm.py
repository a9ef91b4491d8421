"""ICD-10-CM loader: the tabular list XML of simple-icd-10-cm, read streaming."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kgrag.errors import KGLoadError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.loaders.icd10cm import ICD10CMLoader
from kgrag.kg.model import Fact

EXCERPT = Path(__file__).parent / "data" / "icd10cm" / "icd10cm-tabular-excerpt.xml"


def load(path: Path = EXCERPT) -> KnowledgeGraph:
    builder = KGBuilder()
    ICD10CMLoader(path=path).load(builder)
    return builder.build()


@pytest.fixture(scope="module")
def kg() -> KnowledgeGraph:
    return load()


def facts(kg: KnowledgeGraph, entity_id: str, relation: str | None = None) -> list[Fact]:
    return [f for f in kg.facts_of(kg.index_of(entity_id)) if relation is None or f.relation == relation]


def values(kg: KnowledgeGraph, entity_id: str, relation: str) -> list[str | None]:
    return [f.value for f in facts(kg, entity_id, relation)]


def parent(kg: KnowledgeGraph, entity_id: str) -> str | None:
    [fact] = facts(kg, entity_id, "is_a")
    return fact.tail


def test_codes_blocks_and_chapters_are_entities(kg: KnowledgeGraph) -> None:
    code = kg.entity(kg.index_of("icd10cm:E11.9"))
    assert (code.name, code.lang, code.source) == ("Type 2 diabetes mellitus without complications", "en", "icd10cm")
    assert (code.types, code.xrefs) == (("icd10cm code",), ("ICD10CM:E11.9",))
    block = kg.entity(kg.index_of("icd10cm:E08-E13"))
    assert (block.name, block.types, block.xrefs) == (
        "Diabetes mellitus (E08-E13)",
        ("icd10cm block",),
        ("ICD10CM:E08-E13",),
    )
    chapter = kg.entity(kg.index_of("icd10cm:chapter:4"))
    assert (chapter.name, chapter.types) == (
        "Endocrine, nutritional and metabolic diseases (E00-E89)",
        ("icd10cm chapter",),
    )


def test_is_a_climbs_code_parent_code_block_chapter(kg: KnowledgeGraph) -> None:
    chain = ["icd10cm:E11.321"]
    while up := facts(kg, chain[-1], "is_a"):
        chain.append(up[0].tail or "")
    assert chain == ["icd10cm:E11.321", "icd10cm:E11.32", "icd10cm:E11.3", "icd10cm:E11",
                     "icd10cm:E08-E13", "icd10cm:chapter:4"]


def test_a_one_category_block_is_not_confused_with_its_code(kg: KnowledgeGraph) -> None:
    assert parent(kg, "icd10cm:E36") == "icd10cm:E36-E36"
    assert kg.entity(kg.index_of("icd10cm:E36-E36")).types == ("icd10cm block",)


def test_a_placeholder_is_kept_in_the_hierarchy_but_not_typed_as_a_code(kg: KnowledgeGraph) -> None:
    assert parent(kg, "icd10cm:H21.1X1") == "icd10cm:H21.1X"
    assert parent(kg, "icd10cm:H21.1X") == "icd10cm:H21.1"
    assert kg.entity(kg.index_of("icd10cm:H21.1X")).types == ("icd10cm placeholder",)


def test_notes_become_literal_facts_of_their_own_relation(kg: KnowledgeGraph) -> None:
    assert values(kg, "icd10cm:E11", "inclusion_term") == [
        "diabetes (mellitus) due to insulin secretory defect", "diabetes NOS", "insulin resistant diabetes (mellitus)",
    ]
    assert values(kg, "icd10cm:E11.32", "inclusion_term") == [
        "Type 2 diabetes mellitus with nonproliferative diabetic retinopathy NOS"
    ]
    assert values(kg, "icd10cm:E11", "excludes1") == [
        "gestational diabetes (O24.4-)",
        "type 1 diabetes mellitus (E10.-)",
    ]
    assert values(kg, "icd10cm:E36", "excludes2") == [
        "postprocedural endocrine and metabolic complications and disorders, not elsewhere classified (E89.-)"
    ]
    assert values(kg, "icd10cm:E11", "use_additional_code") == ["code to identify control using:", "insulin (Z79.4)"]
    assert (
        values(kg, "icd10cm:E35", "code_first")[1]
        == "late congenital syphilis of thymus gland [Dubois disease] (A50.59)"
    )
    assert values(kg, "icd10cm:E26.01", "code_also") == ["adrenal adenoma (D35.0-)"]
    assert values(kg, "icd10cm:chapter:4", "coding_note")[0].startswith("All neoplasms, whether functionally active")
    assert values(kg, "icd10cm:chapter:4", "excludes1") == [
        "transitory endocrine and metabolic disorders specific to newborn (P70-P74)"
    ]


def test_seventh_characters_are_listed_with_their_note(kg: KnowledgeGraph) -> None:
    assert values(kg, "icd10cm:E11.32", "seventh_character") == [
        "1: right eye",
        "2: left eye",
        "3: bilateral",
        "9: unspecified eye",
    ]
    assert values(kg, "icd10cm:E11.32", "coding_note")[0].startswith("One of the following 7th characters")
    assert values(kg, "icd10cm:H35.31", "seventh_character") == [
        "3: advanced atrophic without subfoveal involvement (advanced dry stage)",
        "4: advanced atrophic with subfoveal involvement",
    ]


def test_introduction_notes_are_not_facts(kg: KnowledgeGraph) -> None:
    assert all(
        "appears immediately under certain categories" not in (kg.fact(j).value or "") for j in range(kg.n_facts)
    )


def test_provenance_is_the_element_ordinal_and_the_code(kg: KnowledgeGraph) -> None:
    [fact] = facts(kg, "icd10cm:E11.9", "excludes1")
    assert (fact.provenance.file, fact.provenance.line, fact.provenance.key) == (str(EXCERPT), 7, "E11.9")
    assert facts(kg, "icd10cm:H21.1X1", "is_a")[0].provenance.line == 20


def test_stats_count_every_element_and_note(kg: KnowledgeGraph) -> None:
    # 2 chapters + 5 blocks + 15 diag elements, each but the chapters with an is_a; 17 notes and
    # 6 seventh characters (the <note> inside H35.31's sevenChrDef is folded into its character), and
    # each of the 15 diag elements' code as an icd10 fact
    literal = 23 + 15
    stats = {"entities": 22, "facts": 20 + literal, "literal_facts": literal, "entity_facts": 20}
    assert kg.stats()["icd10cm"] == stats


def test_codes_are_found_by_id_and_name(kg: KnowledgeGraph) -> None:
    assert kg.find("icd10cm:E11.9") == [kg.index_of("icd10cm:E11.9")]
    assert kg.entity_id(kg.find("type 2 diabetes mellitus")[0]) == "icd10cm:E11"


# -- bad input -------------------------------------------------------------------------------
def test_broken_xml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "tabular.xml"
    text = EXCERPT.read_text(encoding="utf-8").replace("</desc>\n          <excludes1>", "\n          <excludes1>", 1)
    path.write_text(text)  # E11.9's <desc> is left open
    lines = text.splitlines()
    start = lines.index("          <name>E11.9</name>")
    closing = next(i for i in range(start, len(lines)) if lines[i].strip() == "</diag>") + 1
    with pytest.raises(KGLoadError, match="malformed XML \\(mismatched tag") as err:
        load(path)
    assert (err.value.path, err.value.line) == (str(path), closing)


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tabular.xml"
    path.write_bytes(EXCERPT.read_bytes()[:3000])
    with pytest.raises(KGLoadError, match="malformed XML") as err:
        load(path)
    assert err.value.path == str(path)


def test_an_invalid_utf8_byte_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "tabular.xml"
    path.write_bytes(EXCERPT.read_bytes().replace(b"Hyperaldosteronism", b"Hyper\xffaldosteronism"))
    with pytest.raises(KGLoadError) as err:
        load(path)
    expected_line = (
        EXCERPT.read_text(encoding="utf-8").splitlines().index("        <desc>Hyperaldosteronism</desc>") + 1
    )
    assert (err.value.path, err.value.line) == (str(path), expected_line)


def test_a_diag_without_a_name_names_file_and_element(tmp_path: Path) -> None:
    path = tmp_path / "tabular.xml"
    path.write_text(EXCERPT.read_text(encoding="utf-8").replace("<name>E11.9</name>", ""))
    with pytest.raises(KGLoadError, match=r"expected a <name> in <diag> element 7") as err:
        load(path)
    assert (err.value.path, err.value.line) == (str(path), 7)


# -- the real package data -------------------------------------------------------------------
@pytest.mark.slow
def test_the_real_tabular_list_loads_completely() -> None:
    # Counted independently with ElementTree.parse and findall over the whole tree: 22 chapters,
    # 297 sections, 46,881 <diag> elements of which 246 have placeholder="true" (so 46,635 codes,
    # the figure RESOURCES.md gives), and the <note>s under each note container.
    builder = KGBuilder()
    t0 = time.perf_counter()
    ICD10CMLoader().load(builder)
    seconds = time.perf_counter() - t0
    kg = builder.build()
    print(f"ICD-10-CM loaded in {seconds:.1f} s")
    types: dict[str, int] = {}
    for i in range(kg.n_entities):
        for t in kg.types_of(i):
            types[t] = types.get(t, 0) + 1
    assert types == {"icd10cm chapter": 22, "icd10cm block": 297, "icd10cm code": 46_635, "icd10cm placeholder": 246}
    assert kg.relation_counts() == {
        "is_a": 297 + 46_881, "inclusion_term": 12_574 + 1_024, "excludes1": 5_407, "excludes2": 2_520,
        "use_additional_code": 1_485, "code_first": 809, "code_also": 655, "coding_note": 180 + 508,
        "seventh_character": 1_790, "icd10": 46_881,
    }
    assert kg.stats()["icd10cm"]["entities"] == 47_200
    assert kg.entity(kg.index_of("icd10cm:E11.9")).name == "Type 2 diabetes mellitus without complications"
    assert parent(kg, "icd10cm:E11.9") == "icd10cm:E11"


def test_every_code_is_a_citable_icd10_fact_blocks_and_chapters_are_not(kg: KnowledgeGraph) -> None:
    assert values(kg, "icd10cm:E11.9", "icd10") == ["E11.9"]
    assert values(kg, "icd10cm:H21.1X1", "icd10") == ["H21.1X1"]
    blocks = [kg.entity_id(i) for i in range(kg.n_entities) if "icd10cm block" in kg.entity(i).types]
    assert blocks and all(values(kg, b, "icd10") == [] for b in blocks)
