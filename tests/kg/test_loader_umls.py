"""UMLSLoader against a small META folder in the real RRF layout (tests/kg/data/umls/META).

The fixture holds: diabetes mellitus with a suppressed name (SUPPRESS=O), a Spanish name (LAT=SPA),
a Chinese name (LAT=CHI) and definitions from NCI and MSH; type 2 diabetes with a Spanish-source
definition and a CSP one; metformin with a suppressed MSH definition; a Spanish-only concept, a
concept whose only name is suppressed, a Chinese-only concept; MRREL rows with RELA values, both
directions of a pair, a triple repeated by another source, SIB/SY/XR rows, a relation to a
concept that is not kept, a suppressed relation and one within a single concept.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kgrag.errors import ConfigError, EntityNotFoundError, KGLoadError, SourceNotAvailableError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.loaders.umls import COLUMNS, UMLSLoader, relation_table
from kgrag.kg.relations import read_tsv, vocabulary
from kgrag.kg.store import load_store, write_store

META = Path(__file__).parent / "data" / "umls" / "META"


def load(meta: Path = META, **kwargs: object) -> tuple[KnowledgeGraph, UMLSLoader]:
    loader = UMLSLoader(meta, **kwargs)  # type: ignore[arg-type]
    builder = KGBuilder()
    loader.load(builder)
    return builder.build(), loader


def facts(kg: KnowledgeGraph) -> set[tuple[str, str, str]]:
    """The entity facts (MRREL rows); the definitions are literal facts, checked apart."""
    out = set()
    for j in range(kg.n_facts):
        f = kg.fact(j)
        if f.relation == "definition":
            continue
        assert f.tail is not None
        out.add((f.head, f.relation, f.tail))
    return out


def entity(kg: KnowledgeGraph, cui: str):  # type: ignore[no-untyped-def]
    return kg.entity(kg.index_of("umls:" + cui))


@pytest.fixture(scope="module")
def kg() -> KnowledgeGraph:
    return load()[0]


def copy_meta(tmp_path: Path) -> Path:
    meta = tmp_path / "META"
    shutil.copytree(META, meta)
    return meta


# -- concepts ------------------------------------------------------------------------------------
def test_kept_concepts_are_those_with_an_english_or_chinese_unsuppressed_name(kg: KnowledgeGraph) -> None:
    ids = {kg.entity_id(i) for i in range(kg.n_entities)}
    assert ids == {"umls:C0011849", "umls:C0011860", "umls:C0020538", "umls:C0025598", "umls:C9999993"}
    # C9999991 has only a Spanish name, C9999992 only a suppressed (SUPPRESS=E) one


def test_preferred_name_is_the_english_ts_p_stt_pf_ispref_y_atom(kg: KnowledgeGraph) -> None:
    e = entity(kg, "C0011849")
    assert (e.name, e.lang, e.source) == ("Diabetes Mellitus", "en", "umls")


def test_aliases_skip_suppressed_and_other_languages_and_case_duplicates(kg: KnowledgeGraph) -> None:
    e = entity(kg, "C0011849")
    # "Diabetes mellitus" (SNOMED CT) equals the name but for case; "DM - Diabetes mellitus" is
    # SUPPRESS=O; "Diabetes Sacarina" is LAT=SPA; the Chinese name is kept, after the English ones
    assert e.aliases == ("Diabetes", "糖尿病")


def test_xrefs_carry_the_cui_and_every_kept_atom_code(kg: KnowledgeGraph) -> None:
    assert entity(kg, "C0011849").xrefs == (
        "UMLS:C0011849", "MSH:D003920", "SNOMEDCT_US:73211009", "NCI:C2985", "CHIDEMO:CD0001",
    )
    # no MSHSPA code: the Spanish row is filtered out as a whole
    assert "ICD10CM:E11" in entity(kg, "C0011860").xrefs


def test_chinese_only_concept_is_named_in_chinese(kg: KnowledgeGraph) -> None:
    e = entity(kg, "C9999993")
    assert (e.name, e.lang) == ("消渴", "zh")


def test_english_only_drops_chinese_names_and_concepts() -> None:
    kg, _ = load(langs=("ENG",))
    assert entity(kg, "C0011849").aliases == ("Diabetes",)
    with pytest.raises(EntityNotFoundError, match="C9999993"):
        kg.index_of("umls:C9999993")
    assert ("umls:C0011849", "umls_broader_than", "umls:C9999993") not in facts(kg)


def test_source_filter_falls_back_to_the_best_remaining_atom() -> None:
    kg, loader = load(sabs={"SNOMEDCT_US", "ICD10CM"})
    # the MSH preferred atom is filtered out: among the rest, STT=PF beats the SNOMED CT FN (VO),
    # and of two TS=S/STT=PF/ISPREF=Y term types PT, file order decides
    e = entity(kg, "C0020538")
    assert e.name == "Hypertensive disorder"
    assert e.xrefs == ("UMLS:C0020538", "SNOMEDCT_US:38341003", "ICD10CM:I10")
    assert loader.stats["MRCONSO other SAB"] > 0
    assert facts(kg) == {("umls:C0011860", "is_a", "umls:C0011849"),
                         ("umls:C0011849", "has_subtype", "umls:C0011860")}


def test_mrrank_decides_the_fallback_when_present(tmp_path: Path) -> None:
    meta = copy_meta(tmp_path)
    (meta / "MRRANK.RRF").write_text("0400|ICD10CM|PT|N|\n0300|SNOMEDCT_US|PT|N|\n0200|SNOMEDCT_US|FN|N|\n",
                                     encoding="utf-8")
    kg, loader = load(meta, sabs={"SNOMEDCT_US", "ICD10CM"})
    assert entity(kg, "C0020538").name == "Essential (primary) hypertension"
    assert str(meta / "MRRANK.RRF") in loader.info().files


def test_semantic_types_come_from_mrsty(kg: KnowledgeGraph) -> None:
    assert entity(kg, "C0025598").types == ("Organic Chemical", "Pharmacologic Substance")
    assert entity(kg, "C0011849").types == ("Disease or Syndrome",)


# -- definitions ---------------------------------------------------------------------------------
def test_definition_of_the_preferred_source_wins_whatever_the_file_order(kg: KnowledgeGraph) -> None:
    # NCI's definition comes first in the file, MSH's second: MSH ranks higher
    assert entity(kg, "C0011849").description.startswith("A heterogeneous group of disorders")


def test_definitions_of_other_language_sources_and_suppressed_ones_are_skipped(kg: KnowledgeGraph) -> None:
    # MSHSPA (a Spanish source) is skipped, CSP taken
    assert entity(kg, "C0011860").description.startswith("diabetes mellitus in which insulin secretion")
    # MSH's definition is SUPPRESS=Y; the NCI glossary's (a sub-source of NCI) is taken
    assert entity(kg, "C0025598").description == "A drug that lowers the amount of sugar in the blood."


# -- relations -----------------------------------------------------------------------------------
def test_mrrel_is_read_right_to_left(kg: KnowledgeGraph) -> None:
    """``C0011849|..|CHD|C0011860|..|isa|``: type 2 diabetes (CUI2) is a child of diabetes
    mellitus (CUI1) and is_a it; the PAR row of the same pair says the inverse."""
    got = facts(kg)
    assert ("umls:C0011860", "is_a", "umls:C0011849") in got
    assert ("umls:C0011849", "has_subtype", "umls:C0011860") in got
    # MSH rows without RELA: the generic relation of their REL, in the same direction
    assert ("umls:C0011860", "umls_child_of", "umls:C0011849") in got
    assert ("umls:C0011849", "umls_parent_of", "umls:C0011860") in got
    assert ("umls:C0011849", "umls_broader_than", "umls:C9999993") in got  # RB: CUI2 is broader


def test_curated_rela_gets_its_own_relation(kg: KnowledgeGraph) -> None:
    got = facts(kg)
    assert ("umls:C0025598", "umls_may_treat", "umls:C0011860") in got  # metformin may treat T2DM
    assert ("umls:C0011860", "umls_may_be_treated_by", "umls:C0025598") in got
    assert vocabulary().get("umls_may_treat").zh == "可治疗"


def test_other_rela_falls_back_to_its_rel_and_is_kept_in_the_qualifier(kg: KnowledgeGraph) -> None:
    [fact] = [kg.fact(j) for j in range(kg.n_facts) if kg.fact(j).relation == "umls_other"]
    assert (fact.head, fact.tail) == ("umls:C0020538", "umls:C0011849")
    assert fact.qualifier == "sab=MEDCIN; rela=co-occurs_with"


def test_skipped_rows_are_counted() -> None:
    kg, loader = load()
    s = loader.stats
    assert s["MRREL rows"] == 16
    assert s["MRREL skipped REL=SIB"] == s["MRREL skipped REL=SY"] == s["MRREL skipped REL=XR"] == 1
    assert s["MRREL concept not kept"] == 1  # to the Spanish-only C9999991
    assert s["MRREL suppressed"] == 1
    assert s["MRREL within one concept"] == 1
    assert s["MRREL duplicate triples"] == 1  # NCI repeats SNOMED CT's isa
    assert s["facts"] == 9 and kg.n_facts == 9 + s["definitions"]


def test_sibling_rows_are_read_when_not_skipped() -> None:
    kg, _ = load(skip_rels=())
    got = facts(kg)
    assert ("umls:C0020538", "umls_sibling", "umls:C0011860") in got
    assert ("umls:C0011860", "umls_synonym", "umls:C0011849") in got
    assert not any(h == t for h, _, t in got)  # the RL row within C0011849 stays out


def test_provenance_is_file_and_line_of_the_first_row(kg: KnowledgeGraph) -> None:
    [j] = [j for j in range(kg.n_facts) if kg.fact(j).relation == "is_a"]
    prov = kg.fact(j).provenance
    assert (Path(prov.file).name, prov.line, prov.key) == ("MRREL.RRF", 1, None)
    assert kg.fact(j).qualifier == "sab=SNOMEDCT_US"


def test_relation_table_rows_all_have_labels_and_one_meaning_per_id() -> None:
    vocab = vocabulary()
    labels: dict[str, tuple[str, str, str]] = {}
    rows = read_tsv("umls_relations.tsv")
    assert len(rows) > 60
    for key, rel_id, kind, zh, en in rows:
        assert rel_id in vocab and zh and en and kind == "entity", key
        assert labels.setdefault(rel_id, (kind, zh, en)) == (kind, zh, en), f"{rel_id} labelled twice"
        if rel_id not in ("is_a", "has_subtype"):
            assert rel_id.startswith("umls_"), rel_id
    rels, relas = relation_table()
    assert set(rels) >= {"PAR", "CHD", "RB", "RN", "RO", "RL", "RQ", "SIB", "SY", "AQ", "QB"}
    assert relas["isa"] == "is_a" and relas["may_treat"] == "umls_may_treat"
    assert "XR" not in rels  # "not related" must never become a fact


# -- source description --------------------------------------------------------------------------
def test_info_names_the_release_and_the_files() -> None:
    info = UMLSLoader(META).info()
    assert (info.name, info.package, info.version) == ("umls", "UMLS Metathesaurus (local, licensed)", "2025AB")
    assert info.licence == "UMLS Metathesaurus License (NLM)"
    assert [Path(f).name for f in info.files] == ["MRCONSO.RRF", "MRSTY.RRF", "MRDEF.RRF", "MRREL.RRF"]


def test_release_folder_above_meta_is_accepted_and_version_unknown_without_release_dat(tmp_path: Path) -> None:
    meta = copy_meta(tmp_path)
    (meta / "release.dat").unlink()
    loader = UMLSLoader(tmp_path)
    assert loader.meta_dir() == meta
    assert loader.version() == "unknown"


# -- bad input -----------------------------------------------------------------------------------
def test_wrong_field_count_names_file_line_and_layout(tmp_path: Path) -> None:
    meta = copy_meta(tmp_path)
    lines = (meta / "MRCONSO.RRF").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = lines[2].replace("|Diabetes|", "|")  # one field fewer
    (meta / "MRCONSO.RRF").write_text("".join(lines), encoding="utf-8")
    with pytest.raises(KGLoadError) as err:
        load(meta)
    assert err.value.line == 3 and err.value.path.endswith("MRCONSO.RRF")
    assert err.value.detail == f"expected 18 fields ({'|'.join(COLUMNS['MRCONSO.RRF'])}|) but found 17"


def test_missing_trailing_pipe_is_an_error(tmp_path: Path) -> None:
    meta = copy_meta(tmp_path)
    text = (meta / "MRSTY.RRF").read_text(encoding="utf-8").splitlines()
    text[1] = text[1].rstrip("|")
    (meta / "MRSTY.RRF").write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(KGLoadError, match=r"MRSTY.RRF:2: expected 6 fields \(CUI\|TUI.*does not end with '\|'"):
        load(meta)


def test_invalid_utf8_is_an_error_with_its_line(tmp_path: Path) -> None:
    meta = copy_meta(tmp_path)
    with (meta / "MRDEF.RRF").open("ab") as f:
        f.write(b"C0020538|A1|AT1||MSH|Bad byte \xff here|N||\n")
    with pytest.raises(KGLoadError, match=r"MRDEF.RRF:8: not valid utf-8"):
        load(meta)


def test_missing_file_says_how_to_get_umls(tmp_path: Path) -> None:
    meta = copy_meta(tmp_path)
    (meta / "MRREL.RRF").unlink()
    with pytest.raises(SourceNotAvailableError, match=r"has no MRREL.RRF.*licen[cs]e.*umls=/"):
        load(meta)


def test_missing_folder_says_how_to_get_umls(tmp_path: Path) -> None:
    with pytest.raises(SourceNotAvailableError, match=r"does not exist.*META folder"):
        UMLSLoader(tmp_path / "nowhere").info()


def test_unsupported_language_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\['SPA'\].*\['ENG', 'CHI'\]"):
        UMLSLoader(META, langs=("ENG", "SPA"))


# -- store ---------------------------------------------------------------------------------------
def test_round_trip_through_the_store(tmp_path: Path, kg: KnowledgeGraph) -> None:
    write_store(kg, tmp_path / "store")
    back = load_store(tmp_path / "store")
    assert back.n_entities == kg.n_entities and back.n_facts == kg.n_facts
    assert [back.entity(i) for i in range(back.n_entities)] == [kg.entity(i) for i in range(kg.n_entities)]
    assert [back.fact(j) for j in range(back.n_facts)] == [kg.fact(j) for j in range(kg.n_facts)]
    assert back.tables.source_info["umls"].version == "2025AB"
    assert {back.relation(int(r)).en for r in back.arrays["f_rel"]} >= {"is a", "definition"}


def test_the_chosen_definition_is_a_fact_citing_its_mrdef_line(kg: KnowledgeGraph) -> None:
    defs = [kg.fact(j) for j in range(kg.n_facts) if kg.fact(j).relation == "definition"]
    by_head = {f.head: f for f in defs}
    assert len(by_head) == len(defs)  # one per concept, the best-ranked source's
    fact = by_head["umls:C0011849"]
    assert fact.value == entity(kg, "C0011849").description
    assert fact.provenance.file.endswith("MRDEF.RRF")
    line = (META / "MRDEF.RRF").read_text(encoding="utf-8").splitlines()[fact.provenance.line - 1]
    assert line.startswith("C0011849|") and fact.value in line
