"""Drugs loader: the drug dictionary of drug-named-entity-recognition==2.0.9, read from the package."""

from __future__ import annotations

import bz2
import collections
import hashlib
import pickle
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from kgrag.errors import UnsafeFormatError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.links import add_links
from kgrag.kg.loaders import make_loader
from kgrag.kg.loaders.cmekg import CMeKGLoader
from kgrag.kg.loaders.drugs import DICTIONARY, DrugsLoader
from kgrag.kg.loaders.pinned import read_pinned_pickle
from kgrag.kg.model import SourceInfo

FakePackage = Callable[[str, str, bytes], Path]


@pytest.fixture(scope="module")
def kg() -> KnowledgeGraph:
    builder = KGBuilder()
    DrugsLoader().load(builder)
    return builder.build()


def only(kg: KnowledgeGraph, name: str) -> str:
    rows = kg.find(name)
    assert len(rows) == 1, [kg.entity_id(i) for i in rows]
    return kg.entity_id(rows[0])


def test_every_drug_of_the_dictionary_is_an_entity_with_its_documented_ids(kg: KnowledgeGraph) -> None:
    drugs = [i for i in range(kg.n_entities) if kg.entity_source(i) == "drugs"]
    # 20,070 records, and 25 canonical names that surface forms point at without a record
    assert 20_070 <= len(drugs) <= 20_100
    xrefs = [x for i in drugs for x in kg.xrefs(i)]
    assert sum(x.startswith("DRUGBANK:") for x in xrefs) == 12_279
    assert sum(x.startswith("MEDLINEPLUS:") for x in xrefs) == 1_479
    # 107,360 surface forms (and 252 records' synonyms); about 19,000 of them are a drug's own name
    assert 85_000 < len(kg.all_aliases()) < 90_000
    assert all(kg.description(i) == "" for i in drugs[:2000]), "no description is made up"


def test_coumadin_is_an_alias_of_warfarin_with_its_drugbank_and_medlineplus_ids(kg: KnowledgeGraph) -> None:
    assert only(kg, "Coumadin") == "drugs:DB00682"
    warfarin = kg.entity(kg.index_of("drugs:DB00682"))
    assert warfarin.name == "Warfarin" and warfarin.types == ("drug",)
    assert "coumadin" in warfarin.aliases and "warfarin" not in warfarin.aliases
    assert {"DRUGBANK:DB00682", "MEDLINEPLUS:a682277", "MESH_TREE:D03.383.663.283.446.520.914"} <= set(warfarin.xrefs)


def test_the_dictionarys_mesh_id_is_not_an_xref_because_it_names_a_drug_class(kg: KnowledgeGraph) -> None:
    """Warfarin's record carries the MeSH id of the record 'rodenticides', acetaminophen's that of
    'antipyretics' (with aspirin and dipyrone): an identity xref on it would join a drug to its class."""
    _, data = read_pinned_pickle(DICTIONARY)
    records = data["drug_canonical_to_data"]
    assert records["warfarin"]["mesh_id"] == records["rodenticides"]["mesh_id"] == "D012378"
    assert records["acetaminophen"]["mesh_id"] == records["antipyretics"]["mesh_id"]
    assert not [x for i in range(kg.n_entities) for x in kg.xrefs(i) if x.startswith("MESH:")]


def test_tylenol_and_paracetamol_resolve_to_acetaminophen(kg: KnowledgeGraph) -> None:
    assert only(kg, "Tylenol") == only(kg, "paracetamol") == only(kg, "Acetaminophen") == "drugs:DB00316"


def test_flagged_brands_are_brand_name_facts_with_their_record_as_provenance(kg: KnowledgeGraph) -> None:
    brands = [f for i in range(kg.n_entities) for f in kg.facts_of(i) if f.relation == "brand_name"]
    assert 130 <= len(brands) <= 141  # 141 flagged, 3 of them name no drug
    lipitor = [f for f in brands if f.value == "lipitor"]
    assert len(lipitor) == 1 and lipitor[0].head == "drugs:DB01076"  # atorvastatin
    assert lipitor[0].provenance.file == DICTIONARY.label
    assert lipitor[0].provenance.key == "drug_variant_to_variant_data/lipitor"
    # the dictionary does not flag Coumadin as a brand: it stays an alias only
    assert not [f for f in brands if f.value == "coumadin"]


def test_a_pickle_whose_sha256_differs_is_refused_naming_the_file(fake_package: FakePackage) -> None:
    real = DICTIONARY.locate().read_bytes()
    tampered = fake_package("tampered_drug_dictionary", DICTIONARY.path, real + b"\0")
    with pytest.raises(UnsafeFormatError, match="sha256") as err:
        DrugsLoader(replace(DICTIONARY, module="tampered_drug_dictionary")).load(KGBuilder())
    assert str(tampered) in str(err.value)


def test_a_pinned_pickle_that_names_a_class_is_refused(fake_package: FakePackage) -> None:
    payload = bz2.compress(pickle.dumps(collections.OrderedDict(a=1)))
    path = fake_package("classy_drug_dictionary", "d.pkl.bz2", payload)
    pinned = replace(DICTIONARY, module="classy_drug_dictionary", path="d.pkl.bz2",
                     sha256=hashlib.sha256(payload).hexdigest())
    with pytest.raises(UnsafeFormatError, match="collections.OrderedDict") as err:
        read_pinned_pickle(pinned)
    assert str(path) in str(err.value)


def test_a_pickle_path_of_ones_own_is_refused() -> None:
    with pytest.raises(UnsafeFormatError, match="pickle"):
        make_loader("drugs=/tmp/drug_ner_dictionary.pkl.bz2")


def test_cmekg_english_names_link_to_drugs_across_sources(tmp_path: Path) -> None:
    triples = tmp_path / "cmekg.jsonl"
    triples.write_text(
        '{"subject": "华法林", "predicate": "英文名称", "object": "Warfarin"}\n'
        '{"subject": "华法林", "predicate": "不良反应", "object": "出血"}\n'
        '{"subject": "对乙酰氨基酚", "predicate": "英文名称", "object": "paracetamol"}\n',
        encoding="utf-8",
    )
    builder = KGBuilder()
    CMeKGLoader(triples).load(builder)
    DrugsLoader().load(builder)
    counts = add_links(builder)
    kg = builder.build()

    def linked(entity_id: str) -> dict[str, str | None]:
        return {kg.entity_id(kg.fact_tail(j)): kg.fact(j).provenance.key
                for j in kg.out_facts(kg.index_of(entity_id)) if kg.fact_relation(j) == "same_english_name"}

    assert linked("cmekg:华法林") == {"drugs:DB00682": "English name 'warfarin'"}
    assert linked("cmekg:对乙酰氨基酚") == {"drugs:DB00316": "English name 'paracetamol'"}  # a surface form
    assert counts.same_english_name == 2


def test_a_lower_cased_short_word_does_not_link_a_drug() -> None:
    """The dictionary lower-cases every form, so 'caps' (CAPS, a buffer) looks like MONDO's
    lower-cased 'caps' (catastrophic antiphospholipid syndrome): no link may rest on it."""
    builder = KGBuilder()
    builder.add_source(SourceInfo("mondo", "test", "1", "CC BY 4.0", ("mondo.json",)))
    builder.add_entity("mondo:MONDO:0018737", "catastrophic antiphospholipid syndrome", "en", "mondo",
                       aliases=["CAPS", "caps"])
    builder.add_entity("mondo:MONDO:0000000", "cyclophosphamide poisoning", "en", "mondo",
                       aliases=["cyclophosphamide"])
    DrugsLoader().load(builder)
    add_links(builder)
    kg = builder.build()
    assert kg.links_of(kg.index_of("mondo:MONDO:0018737")) == []
    assert [kg.entity_id(j) for _, j in kg.links_of(kg.index_of("mondo:MONDO:0000000"))] == ["drugs:DB00531"]
