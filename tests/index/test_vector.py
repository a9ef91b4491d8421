"""Vector search: faiss and torch return the same neighbours; indexes survive save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kgrag.errors import ConfigError
from kgrag.index.vector import EMPTY_SCORE, FaissIndex, TorchIndex, VectorIndex, make_vector_index

torch = pytest.importorskip("torch")


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit rows that float16 holds exactly, as the index build stores them (faiss keeps fp16)."""
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16).astype(np.float32)


def assert_same_neighbours(ids_a: np.ndarray, ids_b: np.ndarray, scores: np.ndarray, tie: float) -> None:
    """Ids equal at every rank, except where two neighbours' scores are within ``tie``."""
    gaps = np.abs(np.diff(scores, axis=1))
    tied = np.zeros_like(ids_a, dtype=bool)
    tied[:, :-1] |= gaps < tie
    tied[:, 1:] |= gaps < tie
    assert np.array_equal(ids_a[~tied], ids_b[~tied])
    assert tied.mean() < 0.05  # the check above compares almost every rank


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return unit_rows(5000, 64, 0), unit_rows(100, 64, 1)


def test_backends_are_vector_indexes() -> None:
    assert isinstance(FaissIndex(8), VectorIndex)
    assert isinstance(TorchIndex(8), VectorIndex)


def test_torch_on_cpu_and_faiss_return_identical_top_k(data: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data
    f_scores, f_ids = FaissIndex.build(base).search(queries, 10)
    t_scores, t_ids = TorchIndex(64, vectors=base).search(queries, 10)
    np.testing.assert_allclose(t_scores, f_scores, atol=1e-5)
    assert_same_neighbours(t_ids, f_ids, f_scores, tie=1e-5)
    exact = np.argsort(-(queries @ base.T), axis=1)[:, :10]
    assert_same_neighbours(f_ids, exact, f_scores, tie=1e-5)


def test_add_in_pieces_equals_add_at_once(data: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data
    index = TorchIndex(64)
    index.add(base[:1234])
    index.add(base[1234:])
    assert len(index) == len(base)
    assert np.array_equal(index.search(queries, 5)[1], TorchIndex(64, vectors=base).search(queries, 5)[1])


def test_fewer_vectors_than_k_pad_with_minus_one(data: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data
    for index in (FaissIndex.build(base[:3]), TorchIndex(64, vectors=base[:3])):
        scores, ids = index.search(queries[:2], 5)
        assert ids.shape == (2, 5) and (ids[:, 3:] == -1).all() and (scores[:, 3:] == EMPTY_SCORE).all()
        assert sorted(ids[0, :3]) == [0, 1, 2]
    scores, ids = TorchIndex(64).search(queries[:2], 3)
    assert (ids == -1).all()


def test_save_and_load_round_trip(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data
    faiss_index = FaissIndex.build(base)
    faiss_index.save(tmp_path / "x.faiss")
    loaded = FaissIndex.load(tmp_path / "x.faiss")
    assert len(loaded) == len(base) and loaded.dim == 64
    assert np.array_equal(loaded.search(queries, 10)[1], faiss_index.search(queries, 10)[1])

    TorchIndex(64, vectors=base).save(tmp_path / "x.vectors.npy")
    stored = np.load(tmp_path / "x.vectors.npy")
    assert stored.dtype == np.float16 and stored.shape == base.shape
    t = make_vector_index("torch", tmp_path / "x.vectors.npy")
    f = FaissIndex.build(stored)  # faiss over the same (float16) rows that torch loaded
    t_scores, t_ids = t.search(queries, 10)
    f_scores, f_ids = f.search(queries, 10)
    np.testing.assert_allclose(t_scores, f_scores, atol=1e-5)
    assert_same_neighbours(t_ids, f_ids, f_scores, tie=1e-5)


def test_ivf_above_the_threshold_and_exact_when_probing_every_cell(data: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data
    assert FaissIndex.build(base, ivf_threshold=len(base)).kind == "flat"
    ivf = FaissIndex.build(base, ivf_threshold=100, nlist=16, nprobe=16)
    assert ivf.kind == "ivf" and len(ivf) == len(base)
    f_scores, f_ids = FaissIndex.build(base).search(queries, 10)
    assert_same_neighbours(ivf.search(queries, 10)[1], f_ids, f_scores, tie=1e-5)


def test_bad_input_is_refused_with_the_value() -> None:
    index = TorchIndex(8)
    with pytest.raises(ConfigError, match=r"shape \(n, 8\); got \(2, 3\)"):
        index.add(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ConfigError, match="k is 0"):
        FaissIndex(8).search(np.zeros((1, 8), dtype=np.float32), 0)
    with pytest.raises(ConfigError, match="valid backends: faiss, torch"):
        make_vector_index("annoy", "x")
    with pytest.raises(ConfigError, match="unknown dtype"):
        TorchIndex(8, dtype="int8")


def test_half_precision_scores_are_reranked_to_match_faiss(data: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data
    base16 = base.astype(np.float16)  # what build_index stores
    f_scores, f_ids = FaissIndex.build(base16).search(queries, 10)
    t_scores, t_ids = TorchIndex(64, dtype="float16", vectors=base16).search(queries, 10)
    np.testing.assert_allclose(t_scores, f_scores, atol=1e-5)
    assert_same_neighbours(t_ids, f_ids, f_scores, tie=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on the GPU machine: pytest -m gpu)")
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_torch_on_cuda_matches_faiss(dtype: str) -> None:
    base, queries = unit_rows(200_000, 384, 2).astype(np.float16), unit_rows(500, 384, 3)
    f_scores, f_ids = FaissIndex.build(base).search(queries, 10)
    t_scores, t_ids = TorchIndex(384, device="cuda", dtype=dtype, vectors=base).search(queries, 10)
    if dtype == "bfloat16":  # bf16 storage rounds the vectors themselves: close, not equal
        np.testing.assert_allclose(t_scores, f_scores, atol=2e-2)
        assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(t_ids, f_ids, strict=True)]) >= 0.95
    else:
        np.testing.assert_allclose(t_scores, f_scores, atol=1e-5)
        assert_same_neighbours(t_ids, f_ids, f_scores, tie=1e-5)
