"""TCM loader (herbiv 0.1a6's source archive) and its same_chinese_name links to CMeKG.

Most tests read a small archive made of real rows of ``HerbiV_tcm.csv`` (the ``tcm_archive``
fixture of tests/conftest.py; the real archive is 4.7 MB and fetched by ``make tcm-archive``); the
one that needs the real archive skips without it."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from kgrag.errors import ConfigError, KGLoadError, SourceNotAvailableError, UnsafeFormatError
from kgrag.kg.builder import KGBuilder
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.herb_links import plain_pinyin, readings
from kgrag.kg.links import add_links
from kgrag.kg.loaders import make_loader
from kgrag.kg.loaders.cmekg import CMeKGLoader
from kgrag.kg.loaders.tcm import MEMBER, TCMLoader

TCMArchive = Callable[..., tuple[Path, str]]
DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[2]
REAL_ARCHIVE = REPO / "kg" / "sources" / "herbiv-0.1a6.tar.gz"
CHECK = REPO / "kg" / "tcm_link_check.tsv"
@pytest.fixture()
def kg(tcm_archive: TCMArchive, tmp_path: Path) -> KnowledgeGraph:
    archive, digest = tcm_archive(tmp_path)
    builder = KGBuilder()
    CMeKGLoader(DATA / "cmekg" / "herbs_mini.jsonl").load(builder)
    TCMLoader(archive, digest).load(builder)
    add_links(builder)
    return builder.build()


def test_a_herb_has_its_names_ids_and_english_facts_with_provenance(kg: KnowledgeGraph) -> None:
    row = kg.index_of("tcm:HVM1695")
    herb = kg.entity(row)
    assert (herb.name, herb.lang, herb.source) == ("黄芩", "zh", "tcm")
    assert herb.aliases == ("Huang Qin", "root of Baikal skullcap", "Radix Scutellariae")
    assert {"HERB:HERB002563", "SYMMAP:188", "TCMSP:371", "TCM_ID:6700"} <= set(herb.xrefs)
    facts = {f.relation: f for f in kg.facts_of(row)}
    assert facts["cmekg_nature_flavor"].value == "Cold; Bitter"
    assert facts["tcm_meridian"].value == "Lung; Large Intestine; Stomach"
    assert facts["tcm_indication"].value.startswith("Chest oppression with retching")
    assert facts["tcm_therapeutic_class"].value == "清热燥湿药 / Heat-Clearing And Dampnessdrying Medicinal"
    prov = facts["tcm_function"].provenance
    assert (prov.file, prov.line, prov.key) == (f"herbiv-0.1a6.tar.gz:{MEMBER}", 2, "HVM1695 黄芩")


def test_a_herb_links_to_the_cmekg_entity_of_its_chinese_name(kg: KnowledgeGraph) -> None:
    links = [(kg.entity_id(o), kg.fact(j)) for j, o in kg.links_of(kg.index_of("cmekg:黄芩"))]
    assert [(e, f.relation) for e, f in links] == [("tcm:HVM1695", "same_chinese_name")]
    assert links[0][1].provenance.key == "Chinese name 黄芩 (herbiv pinyin HUANGQIN is a reading of it)"


def test_of_the_rows_herbiv_calls_danggui_only_the_one_whose_pinyin_reads_it_links(kg: KnowledgeGraph) -> None:
    linked = {kg.entity_id(o) for _, o in kg.links_of(kg.index_of("cmekg:当归"))}
    assert linked == {"tcm:HVM0765"}  # not CHANGBIAN HUA DANG GUI nor QU XI DANG GUI


def test_pinyin_readings_allow_every_reading_of_a_polyphonic_character() -> None:
    assert readings("当归") == {"DANGGUI"}
    assert {"CHANGBIANHUA", "ZHANGBIANHUA"} <= readings("长鞭花")
    assert plain_pinyin("DANG GUI") == "DANGGUI" and plain_pinyin("DA JI 1") == "DAJI1"


def test_an_archive_of_another_digest_is_refused(tcm_archive: TCMArchive, tmp_path: Path) -> None:
    archive, _ = tcm_archive(tmp_path)
    with pytest.raises(UnsafeFormatError, match="its sha256 is"):
        TCMLoader(archive).load(KGBuilder())


def test_a_missing_archive_says_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(SourceNotAvailableError, match="make tcm-archive"):
        TCMLoader(tmp_path / "herbiv-0.1a6.tar.gz").load(KGBuilder())
    with pytest.raises(ConfigError, match="tcm=PATH"):
        make_loader("tcm")


def test_a_row_without_its_chinese_name_names_the_member_and_line(
    tcm_archive: TCMArchive, tcm_rows: tuple[str, ...], tmp_path: Path
) -> None:
    archive, digest = tcm_archive(tmp_path, (*tcm_rows[:2], "HVM9999,,NO NAME" + "," * 16))
    with pytest.raises(KGLoadError) as err:
        TCMLoader(archive, digest).load(KGBuilder())
    assert err.value.path == f"herbiv-0.1a6.tar.gz:{MEMBER}" and err.value.line == 4
    assert "expected an HVMID and a cn_name" in str(err.value)


@pytest.mark.skipif(not REAL_ARCHIVE.exists(), reason="herbiv's archive is not fetched: run `make tcm-archive`")
def test_the_real_archive_has_the_documented_herbs() -> None:
    builder = KGBuilder()
    TCMLoader(REAL_ARCHIVE).load(builder)
    kg = builder.build()
    herbs = [i for i in range(kg.n_entities) if kg.entity_source(i) == "tcm"]
    assert len(herbs) == 4_666
    relations = Counter(f.relation for i in herbs for f in kg.facts_of(i))
    assert relations["tcm_function"] == 2_635 and relations["tcm_indication"] == 2_637
    [scutellaria] = [i for i in kg.find("黄芩") if kg.entity_source(i) == "tcm"]
    assert "root of Baikal skullcap" in kg.entity(scutellaria).aliases


def test_the_hand_check_covers_200_herb_links_with_precision_of_at_least_095() -> None:
    with CHECK.open(encoding="utf-8") as f:
        rows = list(csv.reader((line for line in f if not line.startswith("#")), delimiter="\t"))
    assert len(rows) >= 200 and {r[0] for r in rows} == {"tcm->cmekg"}
    assert sum(r[6] == "correct" for r in rows) / len(rows) >= 0.95
