"""build_index / load_index on a tiny real-format store: contents, mismatch refusal, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kgrag.atomic import sha256_file
from kgrag.errors import ConfigError, IndexMismatchError, IndexNotFoundError, StoreError
from kgrag.index.build import build_index, load_index
from kgrag.index.embedders import USEEmbedder
from kgrag.index.verbalize import fact_sentence
from kgrag.kg.store import load_store, read_manifest


@pytest.fixture(scope="module")
def built(tiny_store: Path, use_embedder: USEEmbedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("idx") / "index"
    build_index(tiny_store, out, "use-multilingual", embedder=use_embedder, batch_size=4)
    return out


def test_manifest_names_the_kg_the_embedder_and_every_file(built: Path, tiny_store: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    kg = load_store(tiny_store)
    link_codes = [c for c, r in enumerate(kg.tables.relations) if kg.vocab.get(r).kind == "link"]
    assert manifest["format"] == "kgrag-vector-index" and manifest["version"] == 1
    assert manifest["kg_checksum"] == read_manifest(tiny_store)["checksum"]
    assert manifest["kg_path"] == str(tiny_store)
    assert manifest["embedder"] == "use-multilingual" and manifest["dim"] == 512
    assert manifest["counts"]["entities"] == kg.n_entities
    assert manifest["counts"]["facts"] + manifest["counts"]["link_facts_skipped"] == kg.n_facts
    assert manifest["counts"]["link_facts_skipped"] == int(np.isin(kg.arrays["f_rel"], link_codes).sum())
    for name, digest in manifest["files"].items():
        assert sha256_file(built / name) == digest
    kinds = ("vectors.npy", "faiss", "ids.npy")
    assert set(manifest["files"]) == {f"{p}.{s}" for p in ("entities", "facts") for s in kinds}


def test_vectors_are_float16_unit_rows_mapped_to_kg_rows(built: Path, tiny_store: Path) -> None:
    kg = load_store(tiny_store)
    vectors = np.load(built / "facts.vectors.npy")
    ids = np.load(built / "facts.ids.npy")
    assert vectors.dtype == np.float16 and vectors.shape == (len(ids), 512)
    np.testing.assert_allclose(np.linalg.norm(vectors.astype(np.float32), axis=1), 1.0, atol=2e-3)
    assert ids.dtype == np.int64 and ids.max() < kg.n_facts
    assert np.array_equal(np.load(built / "entities.ids.npy"), np.arange(kg.n_entities))


def test_a_question_finds_its_fact_in_either_language(built: Path, tiny_store: Path, use_embedder: USEEmbedder) -> None:
    kg = load_store(tiny_store)
    index = load_index(built, kg_checksum=read_manifest(tiny_store)["checksum"], embedder_name="use-multilingual")
    q = use_embedder.encode(["糖尿病应该去哪个科室看病？", "Which department treats diabetes?"])
    _, rows = index.search("facts", q, 3)
    for hits in rows:
        assert "糖尿病应就诊于内分泌科" in [fact_sentence(kg, int(j)) for j in hits]
    _, ents = index.search("entities", use_embedder.encode(["阿司匹林"]), 1)
    assert kg.entity_id(int(ents[0, 0])) == "cmekg:阿司匹林"


def test_torch_backend_finds_the_same_rows(built: Path, use_embedder: USEEmbedder) -> None:
    q = use_embedder.encode(["高血压的症状", "seizures in children", "阿司匹林的副作用"])
    faiss_scores, faiss_rows = load_index(built).search("facts", q, 5)
    torch_scores, torch_rows = load_index(built, backend="torch").search("facts", q, 5)
    np.testing.assert_allclose(torch_scores, faiss_scores, atol=1e-5)
    assert np.array_equal(torch_rows[:, 0], faiss_rows[:, 0])


def test_an_index_of_another_kg_is_refused_with_the_fix(built: Path) -> None:
    with pytest.raises(IndexMismatchError) as err:
        load_index(built, kg_checksum="f" * 64)
    built_from = json.loads((built / "manifest.json").read_text())["kg_checksum"]
    msg = str(err.value)
    assert built_from[:16] in msg and "f" * 16 in msg
    assert f"kgrag build-index --kg {json.loads((built / 'manifest.json').read_text())['kg_path']} --out {built}" in msg


def test_an_index_of_another_embedder_is_refused_naming_both(built: Path) -> None:
    with pytest.raises(IndexMismatchError, match=r"'use-multilingual' \(512-d\).*'minilm'.*--embedder minilm"):
        load_index(built, embedder_name="minilm")


def test_missing_or_corrupted_index_says_how_to_build_it(tmp_path: Path, built: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="kgrag build-index --kg"):
        load_index(tmp_path / "nothing")
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in built.iterdir():
        copy.joinpath(p.name).write_bytes(p.read_bytes())
    ids = np.load(copy / "facts.ids.npy")
    np.save(copy / "facts.ids.npy", ids[::-1].copy())
    load_index(copy)  # not verified: loads
    with pytest.raises(IndexNotFoundError, match="checksum mismatch"):
        load_index(copy, verify=True)
    (copy / "facts.faiss").unlink()
    with pytest.raises(IndexNotFoundError, match="facts.faiss: missing"):
        load_index(copy)


class FailingEmbedder:
    """A real embedder that breaks after its first batch, as a crash mid-build would."""

    def __init__(self, inner: USEEmbedder) -> None:
        self.inner, self.name, self.dim, self.calls = inner, inner.name, inner.dim, 0

    def encode(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("embedding failed")
        return self.inner.encode(texts, batch_size=batch_size)


def test_a_failed_build_leaves_the_previous_index_intact(tiny_store: Path, use_embedder: USEEmbedder,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "index"
    build_index(tiny_store, out, "use-multilingual", embedder=use_embedder, limit=5)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RuntimeError, match="embedding failed"):
        build_index(tiny_store, out, "use-multilingual", embedder=FailingEmbedder(use_embedder))  # type: ignore[arg-type]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["index"]  # no temporary folder left behind
    assert load_index(out).manifest["counts"]["entities"] == 5


def test_limit_and_parts(tiny_store: Path, use_embedder: USEEmbedder, tmp_path: Path) -> None:
    manifest = build_index(tiny_store, tmp_path / "i", "use-multilingual", what=["facts"], limit=3,
                           embedder=use_embedder)
    assert manifest["parts"] == ["facts"] and manifest["counts"]["facts"] == 3
    index = load_index(tmp_path / "i")
    assert list(index.indexes) == ["facts"] and len(index.indexes["facts"]) == 3
    with pytest.raises(ConfigError, match="no 'entities' part"):
        index.search("entities", np.zeros((1, 512), dtype=np.float32), 1)


def test_bad_options_are_refused_before_any_work(tiny_store: Path, use_embedder: USEEmbedder, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="entities, facts; got relations"):
        build_index(tiny_store, tmp_path / "i", "use-multilingual", what=["relations"], embedder=use_embedder)
    with pytest.raises(ConfigError, match="limit is 0"):
        build_index(tiny_store, tmp_path / "i", "use-multilingual", limit=0, embedder=use_embedder)
    with pytest.raises(ConfigError, match="embedder 'use-multilingual' given, but embedder_name is 'minilm'"):
        build_index(tiny_store, tmp_path / "i", "minilm", embedder=use_embedder)
    (tmp_path / "notes").mkdir()
    with pytest.raises(ConfigError, match="not a kgrag index; refusing to overwrite"):
        build_index(tiny_store, tmp_path / "notes", "use-multilingual", embedder=use_embedder)
    with pytest.raises(StoreError, match="kgrag kg import"):
        build_index(tmp_path / "no-store", tmp_path / "i", "use-multilingual", embedder=use_embedder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]


def test_a_store_without_facts_gives_an_empty_part(tmp_path: Path, use_embedder: USEEmbedder) -> None:
    from kgrag.kg.builder import KGBuilder
    from kgrag.kg.model import SourceInfo
    from kgrag.kg.store import write_store

    b = KGBuilder()
    b.add_source(SourceInfo("mondo", "test", "1", "CC BY 4.0", ("m.json",)))
    b.add_entity("mondo:MONDO:0005015", "diabetes mellitus", "en", "mondo")
    write_store(b.build(), tmp_path / "store")
    manifest = build_index(tmp_path / "store", tmp_path / "i", "use-multilingual", embedder=use_embedder)
    assert manifest["counts"] == {"entities": 1, "facts": 0, "link_facts_skipped": 0}
    scores, rows = load_index(tmp_path / "i").search("facts", use_embedder.encode(["diabetes"]), 2)
    assert (rows == -1).all()


def test_parts_above_the_ivf_threshold_get_an_ivf_index(tiny_store: Path, use_embedder: USEEmbedder,
                                                         tmp_path: Path) -> None:
    manifest = build_index(tiny_store, tmp_path / "i", "use-multilingual", embedder=use_embedder, ivf_threshold=40)
    assert manifest["counts"]["entities"] <= 40 < manifest["counts"]["facts"]
    assert manifest["build"]["entities"]["faiss"] == "flat" and manifest["build"]["facts"]["faiss"] == "ivf"
    index = load_index(tmp_path / "i")
    assert index.indexes["facts"].kind == "ivf"  # type: ignore[attr-defined]
    _, rows = index.search("facts", use_embedder.encode(["高血压应就诊于心内科"]), 1)
    assert rows[0, 0] >= 0
