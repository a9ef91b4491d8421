"""The KG store: round trip, atomic replacement, clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kgrag.errors import StoreError
from kgrag.kg.graph import KnowledgeGraph
from kgrag.kg.store import load_store, read_manifest, verify_store, write_store


def test_round_trip_keeps_every_entity_and_fact(tiny_kg: KnowledgeGraph, tmp_path: Path) -> None:
    write_store(tiny_kg, tmp_path / "s")
    back = load_store(tmp_path / "s", verify=True)
    assert back.n_entities == tiny_kg.n_entities and back.n_facts == tiny_kg.n_facts
    assert [back.entity(i) for i in range(back.n_entities)] == [tiny_kg.entity(i) for i in range(tiny_kg.n_entities)]
    assert [back.fact(j) for j in range(back.n_facts)] == [tiny_kg.fact(j) for j in range(tiny_kg.n_facts)]


def test_manifest_records_sources_counts_and_checksums(tiny_kg: KnowledgeGraph, tmp_path: Path) -> None:
    manifest = write_store(tiny_kg, tmp_path / "s")
    assert manifest["counts"]["facts"] == tiny_kg.n_facts
    assert set(manifest["sources"]) == {"cmekg", "icd10cm", "mondo", "links"}
    assert all(len(d) == 64 for d in manifest["files"].values())
    assert read_manifest(tmp_path / "s")["checksum"] == manifest["checksum"]


def test_no_pickle_anywhere_in_a_store(tiny_kg: KnowledgeGraph, tmp_path: Path) -> None:
    write_store(tiny_kg, tmp_path / "s")
    for p in (tmp_path / "s").glob("*.npy"):
        np.load(p, allow_pickle=False)  # raises if any array needed pickle


def test_a_failed_write_leaves_the_previous_store_intact(tiny_kg: KnowledgeGraph, tmp_path: Path) -> None:
    out = tmp_path / "s"
    first = write_store(tiny_kg, out)
    broken = KnowledgeGraph(tiny_kg.columns, {**tiny_kg.arrays, "f_head": object()}, tiny_kg.tables, tiny_kg.vocab)  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="pickle"):  # an object column would need pickle: refused
        write_store(broken, out)
    assert read_manifest(out)["checksum"] == first["checksum"]
    verify_store(out)
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temporary folder left behind


def test_refuses_to_overwrite_a_folder_that_is_not_a_store(tiny_kg: KnowledgeGraph, tmp_path: Path) -> None:
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(StoreError, match="not a kgrag KG store"):
        write_store(tiny_kg, tmp_path / "precious")
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep me"


def test_missing_store_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="kgrag kg import"):
        load_store(tmp_path / "nope")


def test_other_format_version_is_refused(tiny_kg: KnowledgeGraph, tmp_path: Path) -> None:
    write_store(tiny_kg, tmp_path / "s")
    mf = tmp_path / "s" / "manifest.json"
    data = json.loads(mf.read_text())
    data["format_version"] = 999
    mf.write_text(json.dumps(data))
    with pytest.raises(StoreError, match="format version 999"):
        load_store(tmp_path / "s")


def test_corruption_is_detected_by_verify(tiny_kg: KnowledgeGraph, tmp_path: Path) -> None:
    write_store(tiny_kg, tmp_path / "s")
    (tmp_path / "s" / "ent_name.utf8").write_bytes(b"garbage")
    with pytest.raises(StoreError, match="checksum mismatch"):
        load_store(tmp_path / "s", verify=True)


def test_incomplete_store_names_the_missing_file(tiny_kg: KnowledgeGraph, tmp_path: Path) -> None:
    write_store(tiny_kg, tmp_path / "s")
    (tmp_path / "s" / "f_head.npy").unlink()
    with pytest.raises(StoreError, match="f_head.npy is missing"):
        load_store(tmp_path / "s")


_BUILD_TINY = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from conftest import DATA, tiny_english_source
from kgrag.kg.builder import KGBuilder
from kgrag.kg.links import add_links
from kgrag.kg.loaders.cmekg import CMeKGLoader
from kgrag.kg.store import write_store
from kgrag.kg.model import SourceInfo
b = KGBuilder()
b.add_source(SourceInfo("hpo", "test", "1", "HPO terms", ("hp.obo",)))
# first to name these: the order of its English names decides the order of its links
b.add_entity("hpo:HP:0000001", "Hypertensive disorder", "en", "hpo",
             aliases=["Diabetes mellitus", "Type 2 diabetes mellitus", "Hypertension", "Diabetes"])
CMeKGLoader(DATA / "cmekg" / "mini.jsonl").load(b)
tiny_english_source(b)
add_links(b)
print(write_store(b.build(), Path(sys.argv[1]))["checksum"])
"""


def test_the_same_sources_give_the_same_store_whatever_the_hash_seed(tmp_path: Path) -> None:
    """The store checksum is what an adapter's or an index's manifest is bound to, so it may not
    depend on Python's per-process string hashing (set iteration order)."""
    import os
    import subprocess
    import sys

    tests = str(Path(__file__).resolve().parents[1])
    sums = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", _BUILD_TINY, str(tmp_path / seed), tests], env=env,
                              capture_output=True, text=True, check=True)
        sums.add(done.stdout.strip().splitlines()[-1])
    assert len(sums) == 1
